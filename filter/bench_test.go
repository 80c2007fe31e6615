package filter

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op beside ns/op: on a shared, overloaded machine wall time per op also
// counts the time the process waited for a CPU, CPU time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// benchReq is a host view that costs (almost) nothing, so the benchmark
// measures the engine: headers are fixed fields, writes go to fixed slots.
type benchReq struct {
	user, ctype, clen string
	set               int
}

func (r *benchReq) Header(name string) (string, bool) {
	switch name {
	case "x-user":
		return r.user, true
	case "content-type":
		return r.ctype, true
	case "content-length":
		return r.clen, true
	}
	return "", false
}
func (r *benchReq) Method() string        { return "GET" }
func (r *benchReq) Path() string          { return "/api/v1/items?page=2" }
func (r *benchReq) SourceAddress() string { return "10.1.2.3:45678" }
func (r *benchReq) SetHeader(_, _ string) { r.set++ }
func (r *benchReq) reset()                { r.set = 0 }

type benchResp struct{ set int }

func (r *benchResp) Header(name string) (string, bool) {
	if name == "x-envoy-attempt-count" {
		return "1", true
	}
	return "", false
}
func (r *benchResp) SetHeader(_, _ string) { r.set++ }

// allFive configures every enforcement feature, none of which refuses the
// benchmark's requests: it is the cost of deciding, on the path most
// requests take.
const allFive = `{
  "rateLimit": {"type": "Local", "local": {"rules": [
    {"clientSelectors": [{"headers": [{"name": "x-tier", "value": "gold"}]}], "limit": {"requests": 1000000000, "unit": "Second"}},
    {"clientSelectors": [{"headers": [{"name": "x-user", "type": "Distinct"}], "path": {"value": "/api"}}], "limit": {"requests": 1000000000, "unit": "Second"}}
  ]}},
  "faultInjection": {"delay": {"fixedDelay": "1s", "percentage": 1}, "abort": {"httpStatus": 503, "percentage": 1}},
  "responseOverride": [{"match": {"statusCodes": [{"type": "Range", "range": {"start": 500, "end": 599}}]}, "response": {"statusCode": 503, "body": {"inline": "sorry"}}}],
  "requestBuffer": {"limit": "1Mi"},
  "retry": {"numRetries": 3, "perRetry": {"timeout": "1s"}},
  "timeout": {"http": {"requestTimeout": "10s"}}
}`

type benchStats struct{}

func (benchStats) Inc(Counter) {}

// BenchmarkDecision is one request's whole decision: request headers,
// body, response headers and stream completion, all five features on.
func BenchmarkDecision(b *testing.B) {
	c := mustConfig(b, allFive, Options{Stats: benchStats{}, Rand: func() uint32 { return ^uint32(0) }})
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	b.RunParallel(func(pb *testing.PB) {
		var s Stream // hosts embed the Stream in their per-request object
		req := &benchReq{user: "user-42", ctype: "application/json", clen: "100"}
		resp := &benchResp{}
		for pb.Next() {
			s.Init(c)
			req.reset()
			if a := s.OnRequestHeaders(req, false); a.Kind != StopAndBuffer {
				b.Fatalf("headers: %v", a.Kind)
			}
			if a := s.OnRequestBody(100, true); a.Kind != Continue {
				b.Fatalf("body: %v", a.Kind)
			}
			if a := s.OnResponseHeaders(200, resp); a.Kind != Continue {
				b.Fatalf("response: %v", a.Kind)
			}
			s.OnStreamComplete(1)
			// The timeout's x-envoy-upstream-rq-timeout-ms: a GET that may
			// retry gets no retry header (retry.go), so one write in all.
			if req.set != 1 {
				b.Fatalf("set %d request headers, want 1", req.set)
			}
		}
	})
}

// BenchmarkDecisionOverLimit is the refusal path (a 429 with headers).
func BenchmarkDecisionOverLimit(b *testing.B) {
	c := mustConfig(b, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Year"}}]}}}`, Options{Stats: benchStats{}})
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	var s Stream
	req := &benchReq{}
	for i := 0; i < b.N; i++ {
		s.Init(c)
		s.OnRequestHeaders(req, true)
		s.OnStreamComplete(1)
	}
}

// BenchmarkNewStream is the alternative to embedding: one allocation.
func BenchmarkNewStream(b *testing.B) {
	c := mustConfig(b, allFive, Options{Rand: func() uint32 { return ^uint32(0) }})
	b.ReportAllocs()
	req := &benchReq{user: "u", clen: "1"}
	for i := 0; i < b.N; i++ {
		s := c.NewStream()
		s.OnRequestHeaders(req, true)
		s.OnStreamComplete(1)
	}
}

// TestDecisionAllocs pins the allocation count of a whole request decision
// with all five features on (the benchmark's path, plus Distinct source
// keys): zero. Allocation counts are deterministic, unlike timings.
func TestDecisionAllocs(t *testing.T) {
	c := mustConfig(t, allFive, Options{Stats: benchStats{}, Rand: func() uint32 { return ^uint32(0) }})
	d := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"type":"Distinct","value":"0.0.0.0/0"},"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":1000000000,"unit":"Second"}}]}}}`, Options{})
	var s Stream
	req := &benchReq{user: "user-42", ctype: "application/json", clen: "100"}
	resp := &benchResp{}
	for _, cfg := range []*Config{c, d} {
		allocs := testing.AllocsPerRun(1000, func() {
			s.Init(cfg)
			s.OnRequestHeaders(req, false)
			s.OnRequestBody(100, true)
			s.OnResponseHeaders(200, resp)
			s.OnStreamComplete(1)
		})
		if allocs != 0 {
			t.Errorf("decision allocates %v times per request, want 0", allocs)
		}
	}
}
