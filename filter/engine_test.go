package filter

import (
	"reflect"
	"testing"
)

func TestReplyWire(t *testing.T) {
	plain := &Reply{Status: 429, GRPCStatus: -1, ContentType: "text/plain", Body: "slow down", Headers: [][2]string{{"x-ratelimit-limit", "5"}}}
	st, h, body := plain.Wire()
	if st != 429 || body != "slow down" || !reflect.DeepEqual(h, [][2]string{{"content-type", "text/plain"}, {"x-ratelimit-limit", "5"}}) {
		t.Fatalf("plain: %d %v %q", st, h, body)
	}
	g := &Reply{Status: 503, GRPCStatus: 14, Body: "fault 100% \x01", Headers: [][2]string{{"x-a", "b"}}}
	st, h, body = g.Wire()
	want := [][2]string{{"content-type", "application/grpc"}, {"grpc-status", "14"}, {"grpc-message", "fault 100%25 %01"}, {"x-a", "b"}}
	if st != 200 || body != "" || !reflect.DeepEqual(h, want) {
		t.Fatalf("grpc: %d %v %q", st, h, body)
	}
}

func TestGRPCDetection(t *testing.T) {
	c := mustConfig(t, `{"faultInjection":{"abort":{"httpStatus":503}}}`, newEnv().opts())
	for ct, grpc := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc;charset=utf-8": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/json": false, "": false,
	} {
		req := newReq("POST", "/")
		if ct != "" {
			req.headers["content-type"] = ct
		}
		r := wantReply(t, ct, c.NewStream().OnRequestHeaders(req, true), 503)
		if (r.GRPCStatus >= 0) != grpc {
			t.Errorf("content-type %q: gRPC-shaped = %v, want %v", ct, r.GRPCStatus >= 0, grpc)
		}
	}
}

func TestCounterNames(t *testing.T) {
	seen := map[string]bool{}
	for c := Counter(0); c < NumCounters; c++ {
		n := c.Name()
		if n == "" || n == "btp.unknown" || seen[n] {
			t.Fatalf("counter %d name %q", c, n)
		}
		seen[n] = true
	}
	for _, n := range []string{"btp.ratelimit.over_limit", "btp.ratelimit.ok", "btp.fault.delays", "btp.fault.aborts",
		"btp.override.applied", "btp.buffer.too_large", "btp.retry.allowed"} {
		if !seen[n] {
			t.Errorf("missing counter %s", n)
		}
	}
}

func TestParseAnyAndJSONAgree(t *testing.T) {
	if _, err := ParseJSON([]byte(`{"retry":{"numRetries":"x"}}`), Options{}); err == nil {
		t.Fatal("bad JSON config accepted")
	}
	if _, err := ParseAny(nil, Options{}); err != nil {
		t.Fatalf("nil Any: %v", err)
	}
}

func TestInertOnlyWithoutAnyFeature(t *testing.T) {
	for raw, want := range map[string]bool{
		`{}`:                         true,
		`{"retry":{"numRetries":1}}`: false,
		`{"timeout":{"http":{"requestTimeout":"1s"}}}`:                                                   false,
		`{"debug":{"panicHeader":"x-boom"}}`:                                                             false,
		`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"statusCode":503}}]}`: false,
	} {
		c, err := ParseJSON([]byte(raw), Options{})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := c.Inert(); got != want {
			t.Errorf("%s: Inert() = %v, want %v", raw, got, want)
		}
		// merged under empty defaults, and as the defaults of an empty route
		empty, _ := ParseJSON([]byte(`{}`), Options{})
		empty2, _ := ParseJSON([]byte(`{}`), Options{})
		if got := Merge(empty, c).Inert(); got != want {
			t.Errorf("{} + %s: Inert() = %v, want %v", raw, got, want)
		}
		if got := Merge(c, empty2).Inert(); got != want {
			t.Errorf("%s + {}: Inert() = %v, want %v", raw, got, want)
		}
	}
}
