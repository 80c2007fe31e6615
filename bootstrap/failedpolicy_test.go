package bootstrap

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// A policy the policy package accepts but the renderer refuses (Envoy's
// keepalive takes whole seconds): refused by default; with KeepGoing its
// rule answers 500, the error is in Rendered.Isolated, and the other rule
// renders with its own policy.
func TestKeepGoingRendererRefusal(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app}
spec:
  endpoints: [{ip: {address: 10.0.0.1, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: bad
    matches: [{path: {value: /bad}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
  - name: good
    matches: [{path: {value: /good}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: bad}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: bad}]
  tcpKeepalive: {interval: 1500ms}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: good}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: good}]
  circuitBreaker: {maxConnections: 9}
`
	m, err := policy.Load([]string{"-"}, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RenderAll(m, Options{}); err == nil || !strings.Contains(err.Error(), "BackendTrafficPolicy/default/bad: spec.tcpKeepalive.interval") {
		t.Fatalf("default render: %v, want the keepalive refusal", err)
	}
	out, err := RenderAll(m, Options{KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Isolated) != 1 || !strings.Contains(out.Isolated[0].Error(), "spec.tcpKeepalive.interval") {
		t.Errorf("Isolated %v, want the keepalive error", out.Isolated)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := out.Bootstrap.StaticResources.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	routes := map[string]*routev3.Route{}
	for _, r := range hcm.GetRouteConfig().VirtualHosts[0].Routes {
		routes[r.Name] = r
	}
	if bad := routes["httproute/default/r/rule/0/match/0/*"]; bad.GetDirectResponse().GetStatus() != 500 {
		t.Errorf("bad rule: %v, want a 500 direct response", bad)
	}
	if good := routes["httproute/default/r/rule/1/match/0/*"]; good.GetRoute().GetCluster() == "" {
		t.Errorf("good rule: %v, want its cluster", good)
	}
	for _, c := range out.Bootstrap.StaticResources.Clusters {
		if strings.Contains(c.Name, "rule/0") {
			t.Errorf("cluster %s of the 500 rule was kept", c.Name)
		}
		if strings.Contains(c.Name, "rule/1") && c.GetCircuitBreakers().GetThresholds()[0].GetMaxConnections().GetValue() != 9 {
			t.Errorf("good rule's cluster lost its circuit breaker: %v", c.GetCircuitBreakers())
		}
	}
}
