package filter

import "testing"

// FuzzDecision feeds arbitrary request attributes through a config that
// uses every rule type; the engine must never panic (its guard would hide
// a panic as a 500, so the test checks the panic counter).
func FuzzDecision(f *testing.F) {
	f.Add("GET", "/api/v1?x=1", "10.0.0.1:80", "alice", "application/grpc", "5", 200)
	f.Add("POST", "", "", "", "", "-1", 503)
	f.Add("\x00", "?", "[::1]:99999", "\xff\xfe", "application/grpc;", "99999999999999999999", 0)
	e := newEnv()
	c := mustConfig(f, allFiveStrict, e.opts())
	f.Fuzz(func(t *testing.T, method, path, addr, user, ctype, clen string, status int) {
		e.clock.advance(1e6)
		req := newReq(method, path, "x-user", user, "content-type", ctype, "content-length", clen)
		req.addr = addr
		s := c.NewStream()
		a := s.OnRequestHeaders(req, false)
		if a.Kind == Delay {
			a = s.OnDelayDone(req)
		}
		s.OnRequestBody(len(user), false)
		s.OnRequestTrailers()
		s.OnResponseHeaders(status, newResp("x-envoy-attempt-count", clen))
		s.OnStreamComplete(0)
		if n := e.stats.get(Panics); n != 0 {
			t.Fatalf("engine panicked: %v", e.logs)
		}
	})
}

// allFiveStrict refuses and delays some requests, unlike the benchmark's.
const allFiveStrict = `{
  "rateLimit": {"type": "Local", "local": {"rules": [
    {"clientSelectors": [{"headers": [{"name": "x-user", "type": "RegularExpression", "value": "a.*"}], "methods": [{"value": "GET", "invert": true}]}], "limit": {"requests": 2, "unit": "Second"}},
    {"clientSelectors": [{"headers": [{"name": "x-user", "type": "Distinct"}], "path": {"type": "RegularExpression", "value": "/api/.*"}, "sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}], "limit": {"requests": 1, "unit": "Second"}, "cost": {"response": {"from": "Number", "number": 1}}},
    {"clientSelectors": [{"sourceCIDR": {"value": "::/0", "invert": true}, "path": {"value": "/"}}], "limit": {"requests": 5, "unit": "Minute"}}
  ]}},
  "faultInjection": {"delay": {"fixedDelay": "1ms", "percentage": 50}, "abort": {"grpcStatus": 3, "percentage": 30}},
  "responseOverride": [{"match": {"statusCodes": [{"type": "Range", "range": {"start": 500, "end": 599}}, {"value": 200}]}, "response": {"body": {"inline": "x"}}}],
  "requestBuffer": {"limit": "3"},
  "retry": {"retryOn": {"triggers": ["5xx", "cancelled"], "httpStatusCodes": [503]}},
  "timeout": {"http": {"requestTimeout": "1s"}}
}`
