package adapter

import (
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// BenchmarkRequest is one request through the adapter with every feature
// configured (faults at 0% so no timer runs): the filter's allocation, the
// engine's decisions, the header fetches and sets, the response headers and
// stream completion. The fake header maps stand in for Envoy's, so this
// measures the adapter and engine, not cgo.
func BenchmarkRequest(b *testing.B) {
	r := newRig(b, `{"timeout":{"http":{"requestTimeout":"5s"}}}`, `{
		"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],
			"limit":{"requests":4000000000,"unit":"Second"}}]}},
		"faultInjection":{"delay":{"fixedDelay":"1s","percentage":0},"abort":{"httpStatus":503,"percentage":0}},
		"responseOverride":[{"match":{"statusCodes":[{"value":599}]},"response":{"body":{"inline":"x"}}}],
		"requestBuffer":{"limit":"1Mi"},
		"retry":{"numRetries":2,"retryOn":{"triggers":["connect-failure"]}}}`)
	h := newHandler("192.0.2.1:1000")
	req := newHeaders(":method", "GET", ":path", "/", "x-user", "alice")
	resp := newHeaders(":status", "200")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f := NewStreamFilter(r.cfg, h)
		if f.DecodeHeaders(req, true) != api.Continue || f.EncodeHeaders(resp, false) != api.Continue {
			b.Fatal("request not forwarded")
		}
		f.OnStreamComplete()
		f.OnDestroy(api.Normal)
	}
}
