package policy

import (
	"strings"
	"testing"
)

const unreadKinds = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: s1}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: s2}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: sp}
spec: {whatever: [1, 2]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
`

// Kinds btp does not read are skipped: one warning per kind with the count,
// never an error, and the rest of the input is read as usual.
func TestSkippedKinds(t *testing.T) {
	m, errs := load(t, gatewayYAML+"---"+unreadKinds+btpHead)
	wantErrors(t, errs)
	if len(m.Policies) != 1 || len(m.Gateways) != 1 {
		t.Fatalf("read %d policies, %d gateways; want 1, 1", len(m.Policies), len(m.Gateways))
	}
	want := []string{
		"-: skipped 2 ServiceAccount resources (v1): btp does not read this kind",
		"-: skipped 1 gateway.envoyproxy.io/SecurityPolicy resource (gateway.envoyproxy.io/v1alpha1): btp does not read this kind",
		"-: skipped 1 apps/Deployment resource (apps/v1): btp does not read this kind",
	}
	if len(m.Warnings) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%v", len(m.Warnings), len(want), m.Warnings)
	}
	for i, w := range want {
		if got := m.Warnings[i].Error(); got != w {
			t.Errorf("warning %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

func TestSkippedKindsStrict(t *testing.T) {
	m, err := Options{Strict: true}.Load([]string{"-"}, strings.NewReader(gatewayYAML+"---"+unreadKinds))
	if len(m.Warnings) != 0 {
		t.Errorf("strict: warnings %v, want them as errors", m.Warnings)
	}
	wantErrors(t, err.(ErrorList),
		"-: 2 ServiceAccount resources (v1): btp does not read this kind (--strict): allowed ConfigMap, Namespace, Secret, Service, discovery.k8s.io/EndpointSlice, gateway.envoyproxy.io/Backend,",
		"1 gateway.envoyproxy.io/SecurityPolicy resource",
		"1 apps/Deployment resource")
}

// Every version the pinned CRDs serve decodes into the same types: a v1beta1
// Gateway and HTTPRoute attach like v1 ones.
func TestServedVersions(t *testing.T) {
	in := strings.Replace(gatewayYAML, "gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1", 1) + `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}
` + btpHead
	m, errs := load(t, in)
	wantErrors(t, errs)
	if got := len(m.Gateways[0].Listeners[0].Routes); got != 1 {
		t.Fatalf("v1beta1 HTTPRoute attached %d times, want 1", got)
	}
	if len(m.Policies[0].Status.Ancestors) != 1 {
		t.Errorf("policy ancestors %v, want the v1beta1 Gateway", m.Policies[0].Status.Ancestors)
	}
}
