package adapter

import (
	"testing"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// BenchmarkRequest is one request through the adapter with every feature
// configured (faults at 0% so no timer runs): the engine's decisions, the
// header fetches and sets, the response headers and stream completion. The
// fake header maps stand in for Envoy's, so this measures the adapter and
// engine, not cgo (BenchmarkNativeCost measures the built library).
func BenchmarkRequest(b *testing.B) {
	r := newRig(b, `{"timeout":{"http":{"requestTimeout":"5s"}}}`, `{
		"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],
			"limit":{"requests":4000000000,"unit":"Second"}}]}},
		"faultInjection":{"delay":{"fixedDelay":"1s","percentage":0},"abort":{"httpStatus":503,"percentage":0}},
		"responseOverride":[{"match":{"statusCodes":[{"value":599}]},"response":{"body":{"inline":"x"}}}],
		"requestBuffer":{"limit":"1Mi"},
		"retry":{"numRetries":2,"retryOn":{"triggers":["connect-failure"]}}}`)
	h := newHandler("192.0.2.1:1000")
	req := &benchHeaders{kv: [][2]string{{":method", "GET"}, {":path", "/"}, {"x-user", "alice"}}}
	resp := &benchHeaders{kv: [][2]string{{":status", "200"}}}
	defer directSet()()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req.reset(3)
		resp.reset(1)
		f := NewStreamFilter(r.cfg, h)
		if f.DecodeHeaders(req, true) != api.Continue || f.EncodeHeaders(resp, false) != api.Continue {
			b.Fatal("request not forwarded")
		}
		f.OnStreamComplete()
		f.OnDestroy(api.Normal)
	}
	if got := resp.GetRaw("x-ratelimit-limit"); got == "" {
		b.Fatal("the engine set no x-ratelimit-limit")
	}
}

// directSet stands in for plugin/golang's SetHeaderDirect, a call into
// Envoy that copies the value there (benchHeaders.Set copies into memory it
// reuses); it returns the function that restores the adapter's own.
func directSet() func() {
	old := SetHeaderDirect
	SetHeaderDirect = func(h api.HeaderMap, name, value string) bool {
		h.(*benchHeaders).Set(name, value)
		return true
	}
	return func() { SetHeaderDirect = old }
}

// benchHeaders is a header map whose Set copies into memory it reuses, the
// way Envoy copies into its own header map: no Go allocation per call, so
// the benchmark's allocations are the adapter's and the engine's.
type benchHeaders struct {
	fakeHeaders // methods the benchmark never reaches
	kv          [][2]string
	arena       []byte
}

func (h *benchHeaders) GetRaw(name string) string {
	for _, e := range h.kv {
		if e[0] == name {
			return e[1]
		}
	}
	return ""
}

func (h *benchHeaders) Set(name, value string) {
	start := len(h.arena)
	h.arena = append(h.arena, value...)
	v := unsafe.String(unsafe.SliceData(h.arena[start:]), len(value))
	for i := range h.kv {
		if h.kv[i][0] == name {
			h.kv[i][1] = v
			return
		}
	}
	h.kv = append(h.kv, [2]string{name, v})
}

func (h *benchHeaders) Status() (int, bool) { return 200, true }

func (h *benchHeaders) reset(n int) {
	h.kv = h.kv[:n]
	h.arena = h.arena[:0]
}

// TestNoAllocsPerRequest: a request through the adapter and the engine
// allocates nothing (the SDK's own per-request objects aside: the fakes
// here allocate nothing either), whatever its route enforces. Header writes
// go through SetHeaderDirect, as in the built library, where it is a call
// into Envoy that copies the value there.
func TestNoAllocsPerRequest(t *testing.T) {
	defer directSet()()
	for name, route := range map[string]string{
		"no config": `{}`,
		"timeout":   `{"timeout":{"http":{"requestTimeout":"5s"}}}`,
		"ratelimit": `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],
			"limit":{"requests":4000000000,"unit":"Second"}}]}}}`,
		"all five": `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"type":"Distinct","value":"0.0.0.0/0"}}],
			"limit":{"requests":4000000000,"unit":"Second"}}]}},
			"faultInjection":{"delay":{"fixedDelay":"1s","percentage":0},"abort":{"httpStatus":503,"percentage":0}},
			"responseOverride":[{"match":{"statusCodes":[{"type":"Range","range":{"start":500,"end":599}}]},"response":{"statusCode":503}}],
			"requestBuffer":{"limit":"1Mi"},
			"retry":{"numRetries":2,"retryOn":{"triggers":["connect-failure"]}}}`,
	} {
		r := newRig(t, `{}`, route)
		h := newHandler("192.0.2.1:1000")
		req := &benchHeaders{kv: [][2]string{{":method", "GET"}, {":path", "/"}, {"x-user", "alice"}}}
		resp := &benchHeaders{kv: [][2]string{{":status", "200"}}}
		one := func() {
			req.reset(3)
			resp.reset(1)
			f := NewStreamFilter(r.cfg, h)
			if f.DecodeHeaders(req, true) != api.Continue || f.EncodeHeaders(resp, false) != api.Continue {
				t.Fatal("request not forwarded")
			}
			f.OnStreamComplete()
			f.OnDestroy(api.Normal)
		}
		one() // first-use state: the rate limit's bucket for alice
		if n := testing.AllocsPerRun(200, one); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, n)
		}
	}
}
