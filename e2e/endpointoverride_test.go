package e2e

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// loadBalancer.endpointOverride as Envoy Gateway renders it (override_host
// over the policy's type): every request naming an endpoint in the header
// reaches that endpoint; without the header (or naming an address outside
// the cluster) the RoundRobin fallback spreads requests over both.
func TestEndpointOverride(t *testing.T) {
	bs := harness.StartBackends(t, "ep", 2)
	v := harness.NewVars(t, bs)
	boot := harness.Render(t, harness.Execute(t, "testdata/endpointoverride.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}
	const n = 10
	for _, target := range bs {
		for i := 0; i < n; i++ {
			code, h, _ := harness.Get(t, p.URL("/"), map[string]string{"x-endpoint": target.Addr()})
			if code != 200 || h.Get(harness.BackendHeader) != target.Name {
				t.Fatalf("x-endpoint %s: status %d from %q, want 200 from %s", target.Addr(), code, h.Get(harness.BackendHeader), target.Name)
			}
		}
	}
	for _, hdr := range []map[string]string{nil, {"x-endpoint": "127.0.0.1:1"}} {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			code, h, _ := harness.Get(t, p.URL("/"), hdr)
			if code != 200 {
				t.Fatalf("header %v: status %d, want 200 (fallback)", hdr, code)
			}
			seen[h.Get(harness.BackendHeader)]++
		}
		if len(seen) != 2 {
			t.Errorf("header %v: the fallback sent %d requests to %v, want both endpoints (RoundRobin)", hdr, n, seen)
		}
	}
}
