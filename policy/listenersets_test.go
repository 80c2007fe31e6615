package policy

import (
	"strings"
	"testing"
)

// ListenerSets as Envoy Gateway reads them (internal/gatewayapi/listenerset.go):
// admitted by the Gateway's allowedListeners, their listeners join the
// Gateway as "<namespace>/<set>/<listener>", and only routes whose
// parentRef is the ListenerSet attach to them.
func TestListenerSets(t *testing.T) {
	gateway := func(allowed string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: eg
` + allowed + `  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {team: blue}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: ext, namespace: apps}
spec:
  parentRef: {name: gw, namespace: infra}
  listeners:
  - {name: a, port: 8081, protocol: HTTP}
  - {name: b, port: 8082, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-gw, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-set, namespace: apps}
spec:
  parentRefs: [{kind: ListenerSet, name: ext}]
  rules: [{}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-b, namespace: apps}
spec:
  parentRefs: [{kind: ListenerSet, name: ext, sectionName: b}]
  rules: [{}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: for-gw, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  retry: {numRetries: 2}
`
	}
	attached := func(m *Model) string {
		var out []string
		for _, l := range m.Gateways[0].Listeners {
			var routes []string
			for _, r := range l.Routes {
				p := "-"
				if r.Rules[0].Policy != nil {
					p = r.Rules[0].PolicySources[0].Name
				}
				routes = append(routes, r.Name.Name+"="+p)
			}
			out = append(out, l.Name+":"+strings.Join(routes, ","))
		}
		return strings.Join(out, " ")
	}
	all := "http:on-gw=for-gw apps/ext/a:on-set=for-gw apps/ext/b:on-b=for-gw,on-set=for-gw"
	for _, tc := range []struct {
		name, allowed, want string
		errs                []string
	}{
		{"All", "  allowedListeners: {namespaces: {from: All}}\n", all, nil},
		{"Selector matching", "  allowedListeners: {namespaces: {from: Selector, selector: {matchLabels: {team: blue}}}}\n", all, nil},
		// Not admitted: Envoy Gateway ignores the set (status NotAllowed), so
		// its routes attach nowhere and nothing is an error.
		{"unset", "", "http:on-gw=for-gw", nil},
		{"Same, set in another namespace", "  allowedListeners: {namespaces: {from: Same}}\n", "http:on-gw=for-gw", nil},
		{"Selector not matching", "  allowedListeners: {namespaces: {from: Selector, selector: {matchLabels: {team: green}}}}\n", "http:on-gw=for-gw", nil},
		{"Selector missing", "  allowedListeners: {namespaces: {from: Selector}}\n", "", []string{"spec.allowedListeners.namespaces.selector: is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, gateway(tc.allowed))
			wantErrors(t, errs, tc.errs...)
			if tc.errs != nil {
				return
			}
			if got := attached(m); got != tc.want {
				t.Errorf("listeners and routes:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// A parentRef to a ListenerSet that does not exist, or to a listener it
// does not have, is an error naming the field.
func TestListenerSetParentRefErrors(t *testing.T) {
	in := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: eg
  allowedListeners: {namespaces: {from: Same}}
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: ext, namespace: apps}
spec:
  parentRef: {name: gw}
  listeners: [{name: a, port: 8081, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{kind: ListenerSet, name: missing}, {kind: ListenerSet, name: ext, sectionName: nope}]
  rules: [{}]
`
	_, errs := load(t, in)
	wantErrors(t, errs,
		`spec.parentRefs[0].name: ListenerSet "apps/missing" not found: allowed apps/ext`,
		`spec.parentRefs[1].sectionName: listener "nope" not found on ListenerSet apps/ext`)
}

// Policies targeting a ListenerSet, as Envoy Gateway attaches them
// (backendtrafficpolicy.go, processBackendTrafficPolicyForListenerSet): on a
// ListenerSet listener the policy on that listener wins over the one on the
// set, which wins over the Gateway's; status names what is overridden.
func TestListenerSetTargets(t *testing.T) {
	in := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: eg
  allowedListeners: {namespaces: {from: Same}}
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: ext, namespace: apps}
spec:
  parentRef: {name: gw}
  listeners:
  - {name: a, port: 8081, protocol: HTTP}
  - {name: b, port: 8082, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-gw, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  rules: [{}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-set, namespace: apps}
spec:
  parentRefs: [{kind: ListenerSet, name: ext}]
  rules: [{}]
` + btpIn("for-gw", "2024-01-01T00:00:00Z", "Gateway", "gw", "") +
		btpIn("for-set", "2024-01-02T00:00:00Z", "ListenerSet", "ext", "") +
		btpIn("for-b", "2024-01-03T00:00:00Z", "ListenerSet", "ext", "b") +
		btpIn("late-b", "2024-01-04T00:00:00Z", "ListenerSet", "ext", "b") +
		btpIn("missing", "2024-01-05T00:00:00Z", "ListenerSet", "ext", "c")
	m, errs := load(t, in)
	wantErrors(t, errs, `spec.targetRefs[0].sectionName: listener "c" not found on ListenerSet apps/ext`)
	got := map[string]string{}
	for _, l := range m.Gateways[0].Listeners {
		for _, r := range l.Routes {
			got[l.Name] = r.Rules[0].PolicySources[0].Name
		}
	}
	want := map[string]string{"http": "for-gw", "apps/ext/a": "for-set", "apps/ext/b": "for-b"}
	for l, p := range want {
		if got[l] != p {
			t.Errorf("listener %s: policy %q, want %q", l, got[l], p)
		}
	}
	msgs := map[string]string{}
	for _, p := range m.Policies {
		var parts []string
		for _, a := range p.Status.Ancestors {
			part := string(*a.AncestorRef.Kind) + " " + string(a.AncestorRef.Name)
			if a.AncestorRef.SectionName != nil {
				part += "/" + string(*a.AncestorRef.SectionName)
			}
			for _, c := range a.Conditions {
				part += "; " + c.Reason + ": " + c.Message
			}
			parts = append(parts, part)
		}
		msgs[p.Name] = strings.Join(parts, " | ")
	}
	for name, w := range map[string]string{
		"for-gw":  "Gateway gw; Accepted: Policy has been accepted.; Overridden: This policy is being overridden by other backendTrafficPolicies for these listenersets: [apps/ext] and these listenerset listeners: [apps/ext/b]",
		"for-set": "ListenerSet ext; Accepted: Policy has been accepted.; Overridden: This policy is being overridden by other backendTrafficPolicies for these listenerset listeners: [apps/ext/b]",
		"for-b":   "ListenerSet ext/b; Accepted: Policy has been accepted.",
		"late-b":  "ListenerSet ext/b; Conflicted: Unable to target Listener ext/b, another BackendTrafficPolicy has already attached to it",
		"missing": "ListenerSet ext/c; TargetNotFound: No section name c found for ListenerSet apps/ext",
	} {
		if msgs[name] != w {
			t.Errorf("%s status:\n got %s\nwant %s", name, msgs[name], w)
		}
	}
}

// btpIn is a BackendTrafficPolicy in namespace apps targeting kind/name
// (and section, when set).
func btpIn(name, created, kind, target, section string) string {
	ref := "{group: gateway.networking.k8s.io, kind: " + kind + ", name: " + target
	if section != "" {
		ref += ", sectionName: " + section
	}
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: " + name +
		", namespace: apps, creationTimestamp: \"" + created + "\"}\nspec:\n  targetRefs: [" + ref + "}]\n  retry: {numRetries: 1}\n"
}
