package policy

import (
	"fmt"
	"testing"
)

// A RequestMirror's backendRef resolves like a backendRef (here: a
// Service's EndpointSlice endpoints), and under routingType: Service to the
// cluster IP, as Envoy Gateway's processRequestMirrorFilter resolves it
// with the rule's routing type.
func TestMirrorBackends(t *testing.T) {
	const in = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: shadow}
spec:
  clusterIP: 10.96.0.7
  ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: shadow-1, labels: {kubernetes.io/service-name: shadow}}
addressType: IPv4
ports: [{name: http, port: 9090}]
endpoints: [{addresses: [10.1.0.5]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 8080}}
    backendRefs: [{name: shadow, port: 8080}]
`
	for _, tc := range []struct{ policy, want string }{
		{"", "10.1.0.5:9090"},
		{"---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n  routingType: Service\n", "10.96.0.7:8080"},
	} {
		m, errs := load(t, in+tc.policy)
		wantErrors(t, errs)
		rule := m.Gateways[0].Listeners[0].Routes[0].Rules[0]
		b := rule.Mirrors[0]
		if b == nil || len(b.Endpoints) != 1 {
			t.Fatalf("mirror backend %+v, want one endpoint", b)
		}
		if got := fmt.Sprintf("%s:%d", b.Endpoints[0].Address, b.Endpoints[0].Port); got != tc.want {
			t.Errorf("routingType Service %v: mirror endpoint %s, want %s", tc.policy != "", got, tc.want)
		}
	}
}
