package policy

import (
	"fmt"
	"strings"
	"testing"
)

// targetSelectors[].namespaces as Envoy Gateway resolves it
// (resolvePolicyTargetsFromSelectors): the namespace must match (Same, All,
// or a Selector over Namespace labels) and a target in another namespace
// needs a ReferenceGrant there admitting BackendTrafficPolicy from the
// policy's namespace.
func TestTargetSelectorNamespaces(t *testing.T) {
	var in strings.Builder
	in.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
`)
	// a: team blue, granted; b: team green, granted; c: team blue, not granted;
	// d: no Namespace object, granted; policies: the policy's own.
	for _, ns := range []struct {
		name, labels string
		grant        bool
	}{{"a", "{team: blue}", true}, {"b", "{team: green}", true}, {"c", "{team: blue}", false}, {"d", "", true}, {"policies", "{team: blue}", false}} {
		if ns.labels != "" {
			fmt.Fprintf(&in, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: %s}\n", ns.name, ns.labels)
		}
		if ns.grant {
			fmt.Fprintf(&in, "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: btp, namespace: %s}\nspec:\n  from: [{group: gateway.envoyproxy.io, kind: BackendTrafficPolicy, namespace: policies}]\n  to: [{group: gateway.networking.k8s.io, kind: HTTPRoute}]\n", ns.name)
		}
		fmt.Fprintf(&in, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: %s, labels: {app: web}}\nspec:\n  parentRefs: [{name: gw, namespace: infra}]\n  rules: [{}]\n", ns.name)
	}
	base := in.String()
	policy := func(namespaces string) string {
		return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p, namespace: policies}\nspec:\n" +
			"  targetSelectors: [{kind: HTTPRoute, matchLabels: {app: web}" + namespaces + "}]\n  retry: {numRetries: 2}\n"
	}
	for _, tc := range []struct {
		name, namespaces, want string
	}{
		{"default Same", "", "policies"},
		{"Same", ", namespaces: {from: Same}", "policies"},
		{"All: granted namespaces", ", namespaces: {from: All}", "a b d policies"},
		{"Selector: matching labels and granted", ", namespaces: {from: Selector, selector: {matchLabels: {team: blue}}}", "a policies"},
		{"Selector: expressions", ", namespaces: {from: Selector, selector: {matchExpressions: [{key: team, operator: In, values: [green]}]}}", "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, base+policy(tc.namespaces))
			wantErrors(t, errs)
			var got []string
			for _, r := range m.Gateways[0].Listeners[0].Routes {
				if r.Rules[0].Policy != nil {
					got = append(got, r.Name.Namespace)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("policy applies to routes in %q, want %q", got, tc.want)
			}
		})
	}
}
