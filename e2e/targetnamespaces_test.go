package e2e

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// targetSelectors[].namespaces.from: Selector, as Envoy Gateway resolves it
// (targetSelectorNamespacesMatch + the ReferenceGrant check): the policy in
// namespace policies applies to the route in the namespace whose labels
// match, not to the same route in the namespace whose labels do not.
func TestTargetSelectorNamespaces(t *testing.T) {
	be := harness.StartBackend(t, "app")
	v := harness.NewVars(t, []*harness.Backend{be})
	v.Values = map[string]any{"namespaces": []map[string]string{{"name": "team-a", "team": "blue"}, {"name": "team-b", "team": "green"}}}
	boot := harness.Render(t, harness.Execute(t, "testdata/targetnamespaces.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}
	if code, _, _ := harness.Get(t, p.URL("/team-a"), nil); code != 418 {
		t.Errorf("route in team-a (team: blue): status %d, want the policy's 418", code)
	}
	if code, _, _ := harness.Get(t, p.URL("/team-b"), nil); code != 200 {
		t.Errorf("route in team-b (team: green): status %d, want 200 (not selected)", code)
	}
	if be.Hits() != 1 {
		t.Errorf("backend hits %d, want 1 (team-b's request only)", be.Hits())
	}
}
