package e2e

import (
	"net/http"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// EndpointSlices in a real Envoy: a Service's traffic goes to the ready
// endpoints of its EndpointSlices, never to a not-ready one (rendered
// DRAINING, as Envoy Gateway keeps it), and routingType: Service sends it
// to the cluster IP instead (Envoy Gateway's routing types; its e2e runs the
// same choice through EnvoyProxy/BackendTrafficPolicy routingType).
func TestEndpointSlices(t *testing.T) {
	bs := harness.StartBackends(t, "be", 4)
	v := harness.NewVars(t, bs)
	boot := harness.Render(t, harness.Execute(t, "testdata/endpointslice.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	p := &harness.Proxy{Envoy: harness.StartEnvoy(t, boot, v.AdminPort), Port: v.Port, Backends: bs}

	const n = 20
	for i := 0; i < n; i++ {
		if code, _, _ := harness.Get(t, p.URL("/slices"), nil); code != http.StatusOK {
			t.Fatalf("/slices request %d: %d, want 200", i, code)
		}
	}
	if bs[0].Hits() != 0 || bs[3].Hits() != 0 || bs[1].Hits()+bs[2].Hits() != n || bs[1].Hits() == 0 || bs[2].Hits() == 0 {
		t.Errorf("/slices hits: cluster IP %d, ready %d and %d, not ready %d; want 0, both ready ones sharing %d, 0",
			bs[0].Hits(), bs[1].Hits(), bs[2].Hits(), bs[3].Hits(), n)
	}
	for i := 0; i < 5; i++ {
		if code, h, _ := harness.Get(t, p.URL("/ip"), nil); code != http.StatusOK || h.Get(harness.BackendHeader) != bs[0].Name {
			t.Errorf("/ip request %d: %d from %q, want 200 from the cluster IP's backend %s", i, code, h.Get(harness.BackendHeader), bs[0].Name)
		}
	}
}
