package e2e

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A ListenerSet's listener, as Envoy Gateway merges it into its parent
// Gateway (internal/gatewayapi/listenerset.go): Envoy listens on the set's
// port, the route whose parentRef is the set answers there with the policy
// targeting the set's listener in force (418), and it is not served on the
// Gateway's own listener, where that policy does not apply.
func TestListenerSet(t *testing.T) {
	be := harness.StartBackend(t, "app")
	v := harness.NewVars(t, []*harness.Backend{be})
	setPort := harness.FreePort(t)
	v.Values = map[string]any{"setPort": setPort}
	boot := harness.Render(t, harness.Execute(t, "testdata/listenerset.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	gw, set := &harness.Proxy{Port: v.Port}, &harness.Proxy{Port: setPort}
	if code, _, _ := harness.Get(t, set.URL("/set"), nil); code != 418 {
		t.Errorf("route on the ListenerSet, on its port: status %d, want the policy's 418", code)
	}
	if code, _, _ := harness.Get(t, gw.URL("/set"), nil); code != 404 {
		t.Errorf("route on the ListenerSet, on the Gateway's port: status %d, want 404 (not attached there)", code)
	}
	if code, _, _ := harness.Get(t, gw.URL("/gw"), nil); code != 200 {
		t.Errorf("route on the Gateway: status %d, want 200", code)
	}
	if code, _, _ := harness.Get(t, set.URL("/gw"), nil); code != 404 {
		t.Errorf("route on the Gateway, on the ListenerSet's port: status %d, want 404", code)
	}
	if be.Hits() != 1 {
		t.Errorf("backend hits %d, want 1 (the Gateway route's request only)", be.Hits())
	}
}
