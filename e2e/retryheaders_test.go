package e2e

import (
	"net/http"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A client must not be able to buy itself retries: x-envoy-max-retries and
// x-envoy-retry-on sent by the client on a route whose policy has no retry
// are ignored, so a failing backend is tried exactly once.
func TestClientRetryHeadersIgnored(t *testing.T) {
	p := clusterProxy(t, nil)
	for i := beRoundRobin; i < beRoundRobin+3; i++ {
		p.Backends[i].SetStatus(http.StatusServiceUnavailable)
	}
	code, _, _ := harness.Get(t, p.URL("/roundrobin"), map[string]string{
		"x-envoy-max-retries": "5",
		"x-envoy-retry-on":    "5xx",
	})
	if code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want the backend's 503", code)
	}
	var hits int64
	for i := beRoundRobin; i < beRoundRobin+3; i++ {
		hits += p.Backends[i].Hits()
	}
	if hits != 1 {
		t.Errorf("backends saw %d attempts, want 1: Envoy honoured the client's retry headers", hits)
	}
}
