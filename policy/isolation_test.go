package policy

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
)

// Three routes under one Gateway: "good" has a valid policy of its own,
// "bad" an invalid one (a Maglev table size that is not prime), "plain"
// none, so the Gateway's policy applies to it.
var isolationYAML = gatewayYAML + `
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}
` + isolationRoutes + `
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: good, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: good}]
  faultInjection: {abort: {httpStatus: 418}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: bad, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: bad}]
  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 100}}
`

var isolationRoutes = func() string {
	var b strings.Builder
	for _, n := range []string{"good", "bad", "plain"} {
		b.WriteString(`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ` + n + `}
spec:
  parentRefs: [{name: gw}]
  rules: [{matches: [{path: {value: /` + n + `}}], backendRefs: [{name: app, port: 80}]}]
`)
	}
	return b.String()
}()

func rulesByRoute(m *Model) map[string]*Rule {
	out := map[string]*Rule{}
	for _, g := range m.Gateways {
		for _, l := range g.Listeners {
			for _, r := range l.Routes {
				out[r.Name.Name] = r.Rules[0]
			}
		}
	}
	return out
}

// Envoy Gateway's applyTrafficFeatureToRoute: the invalid policy's route
// answers 500, the others are translated as if it did not exist.
func TestInvalidPolicyIsolated(t *testing.T) {
	m, errs := load(t, isolationYAML)
	wantErrors(t, errs, "BackendTrafficPolicy/default/bad: spec.loadBalancer.consistentHash.tableSize: invalid TableSize value 100")
	perPolicy, rest := errs.PerPolicy()
	if len(perPolicy) != 1 || len(rest) != 0 {
		t.Errorf("PerPolicy: %d policy errors, %d others; want 1, 0", len(perPolicy), len(rest))
	}
	rules := rulesByRoute(m)
	bad := rules["bad"]
	if bad.Policy != nil || !strings.Contains(bad.PolicyError, "ConsistentHash: invalid TableSize value 100") ||
		len(bad.PolicySources) != 1 || bad.PolicySources[0].Name != "bad" {
		t.Errorf("bad route: Policy %v, PolicyError %q, sources %v; want no policy, the Invalid message, source bad", bad.Policy, bad.PolicyError, bad.PolicySources)
	}
	good := rules["good"]
	if good.PolicyError != "" || good.Policy == nil || good.Policy.FaultInjection == nil {
		t.Errorf("good route: PolicyError %q, Policy %v; want its own policy applied", good.PolicyError, good.Policy)
	}
	if p := rules["plain"]; p.PolicyError != "" || p.Policy != nil {
		t.Errorf("plain route: PolicyError %q, Policy %v; want neither", p.PolicyError, p.Policy)
	}
	// btp status reports both policies, each with its own verdict.
	for _, p := range m.Policies {
		conds := p.Status.Ancestors[0].Conditions
		accepted := meta.IsStatusConditionTrue(conds, "Accepted")
		if want := p.Name == "good"; accepted != want {
			t.Errorf("policy %s: Accepted %v, want %v (%+v)", p.Name, accepted, want, conds)
		}
	}
	if f := m.FailedRules(); len(f) != 1 || !strings.Contains(f[0], "HTTPRoute default/bad rule 0 on default/gw/http: BackendTrafficPolicy default/bad is Invalid") {
		t.Errorf("FailedRules %q, want the bad route's rule", f)
	}
}

// A Gateway policy that fails translation: every route without a policy of
// its own answers 500 (translateBackendTrafficPolicyForListeners); a route
// with its own valid policy keeps it.
func TestInvalidGatewayPolicyIsolated(t *testing.T) {
	in := strings.Replace(isolationYAML, "kind: HTTPRoute, name: bad}", "kind: Gateway, name: gw}", 1)
	m, _ := load(t, in)
	rules := rulesByRoute(m)
	for name, want500 := range map[string]bool{"good": false, "bad": true, "plain": true} {
		if got := rules[name].PolicyError != ""; got != want500 {
			t.Errorf("route %s: answers 500 %v, want %v (PolicyError %q)", name, got, want500, rules[name].PolicyError)
		}
	}
}

// A route policy merged into an invalid Gateway policy is invalid as a
// whole (Envoy Gateway translates the merged spec), so its route answers
// 500 too.
func TestInvalidMergedPolicyIsolated(t *testing.T) {
	in := strings.Replace(isolationYAML, "kind: HTTPRoute, name: bad}", "kind: Gateway, name: gw}", 1)
	in = strings.Replace(in, "  faultInjection: {abort: {httpStatus: 418}}", "  mergeType: StrategicMerge\n  faultInjection: {abort: {httpStatus: 418}}", 1)
	m, _ := load(t, in)
	if g := rulesByRoute(m)["good"]; g.PolicyError == "" || g.Policy != nil {
		t.Errorf("good route merged into an invalid Gateway policy: PolicyError %q, Policy %v; want a 500", g.PolicyError, g.Policy)
	}
}
