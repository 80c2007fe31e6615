package e2e

import (
	"net/http"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// healthCheck.active: a backend that is up (it answers requests) but fails
// its /healthz check gets no traffic; the two healthy ones share it.
//
// The dead backend fails from the start: Envoy checks a cluster that has
// had no traffic only every no_traffic_interval (60s by default, which
// Envoy Gateway does not change either), so a backend turning unhealthy
// later would take up to a minute to notice.
func TestActiveHealthCheck(t *testing.T) {
	p := clusterProxy(t, func(bs []*harness.Backend) { bs[beHealth+1].SetHealthy(false) })
	if got := p.Envoy.Stat(t, clusterStat("health", "membership_healthy")); got != 2 {
		t.Fatalf("membership_healthy = %d, want 2 (one of three fails /healthz)", got)
	}
	if got := p.Envoy.Stat(t, clusterStat("health", "health_check.failure")); got < 1 {
		t.Errorf("health_check.failure = %d, want >= 1", got)
	}
	for i := 0; i < 30; i++ {
		if code, _, _ := harness.Get(t, p.URL("/health"), nil); code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 from a healthy backend", i, code)
		}
	}
	dead := p.Backends[beHealth+1]
	if dead.Hits() != 0 {
		t.Errorf("unhealthy backend got %d requests, want 0", dead.Hits())
	}
	if a, b := p.Backends[beHealth].Hits(), p.Backends[beHealth+2].Hits(); a+b != 30 || a == 0 || b == 0 {
		t.Errorf("healthy backends got %d and %d, want 30 between them, both used", a, b)
	}
}
