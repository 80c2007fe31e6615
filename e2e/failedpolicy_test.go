package e2e

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Fault isolation as Envoy Gateway does it (applyTrafficFeatureToRoute in
// internal/gatewayapi/backendtrafficpolicy.go): with --keep-going the route
// of the policy that fails translation answers 500 without reaching the
// backend; the valid policy's route is still enforced, the route without a
// policy still served.
func TestFailedPolicyIsolated(t *testing.T) {
	be := harness.StartBackend(t, "app")
	v := harness.NewVars(t, []*harness.Backend{be})
	v.Values = map[string]any{"routes": []string{"good", "bad", "plain"}}
	boot := harness.RenderWith(t, harness.Execute(t, "testdata/failedpolicy.yaml.tmpl", v), v.AdminPort, "--keep-going")
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/bad", 500},   // the invalid policy's route: Envoy Gateway's direct response
		{"/good", 418},  // the valid policy still aborts
		{"/plain", 200}, // no policy: the backend answers
		{"/bad/x", 500},
	} {
		if code, _, _ := harness.Get(t, p.URL(tc.path), nil); code != tc.want {
			t.Errorf("GET %s: status %d, want %d", tc.path, code, tc.want)
		}
	}
	if be.Hits() != 1 {
		t.Errorf("backend hits %d, want 1 (/plain only: the 500 and the 418 never reach it)", be.Hits())
	}
}
