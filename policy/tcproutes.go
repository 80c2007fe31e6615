package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// l4Rule is a TCPRoute's or UDPRoute's rule as routeL4 needs it.
type l4Rule struct {
	name *gwapiv1.SectionName
	refs []gwapiv1.BackendRef
}

func tcpRules(r *gwapiv1.TCPRoute) []l4Rule {
	out := make([]l4Rule, len(r.Spec.Rules))
	for i, rule := range r.Spec.Rules {
		out[i] = l4Rule{rule.Name, rule.BackendRefs}
	}
	return out
}

func udpRules(r *gwapiv1.UDPRoute) []l4Rule {
	out := make([]l4Rule, len(r.Spec.Rules))
	for i, rule := range r.Spec.Rules {
		out[i] = l4Rule{rule.Name, rule.BackendRefs}
	}
	return out
}

// routeL4 checks a TCPRoute or UDPRoute and attaches it to the listeners of
// its protocol its parentRefs select. Envoy Gateway's
// processTCPRouteParentRefs and processUDPRouteParentRefs take one and only
// one rule; these routes carry no hostnames.
func (v *resolver) routeL4(kind string, obj metav1.Object, useDefault gwapiv1.GatewayDefaultScope, rules []l4Rule) {
	e := v.errs(kind, obj)
	if n := len(rules); n != 1 {
		e.add("spec.rules", "%d rules: Envoy Gateway supports one and only one rule on a %s", n, kind)
		return
	}
	if useDefault != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	x := v.routes[routeKey{kind, nn(obj)}]
	backends := v.routeBackends(x, [][]gwapiv1.BackendRef{rules[0].refs}, e)
	v.attachRoute(x, nil, e, func() []*Rule {
		return []*Rule{{Index: 0, Name: (*string)(rules[0].name), Backends: backends[0]}}
	})
}

// l4Fields are the BackendTrafficPolicy fields Envoy Gateway applies to a
// TCPRoute (applyTrafficFeatureToRoute and
// translateBackendTrafficPolicyForListeners copy only these into the IR
// TCP route; TCPRouteTranslator.asClusterArgs renders them on the cluster),
// beside the attachment fields. Of timeout, only timeout.tcp reaches a TCP
// connection.
var l4Fields = map[string][]string{
	KindTCPRoute: {"loadBalancer", "circuitBreaker", "healthCheck", "timeout", "tcpKeepalive", "proxyProtocol", "dns", "connection"},
	// A UDP route takes only these two (the UDP branch of the same
	// functions; UDPRouteTranslator.asClusterArgs).
	KindUDPRoute: {"loadBalancer", "dns"},
}

func init() {
	// A TLSRoute is an IR TCP route with TLS passthrough: the TCP fields.
	l4Fields[KindTLSRoute] = l4Fields[KindTCPRoute]
}

// routeTLS checks a TLSRoute and attaches it to the TLS listeners its
// parentRefs select, its hostnames intersected with theirs (the SNI names it
// takes). Envoy Gateway's processTLSRouteParentRefs joins every rule's
// backendRefs into one destination (rule -1) and gives it no rule name, so
// a rule-scoped policy never applies to it.
func (v *resolver) routeTLS(tr *gwapiv1.TLSRoute) {
	e := v.errs(KindTLSRoute, tr)
	if tr.Spec.UseDefaultGateways != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	x := v.routes[routeKey{KindTLSRoute, nn(tr)}]
	refs := make([][]gwapiv1.BackendRef, len(tr.Spec.Rules))
	for i, r := range tr.Spec.Rules {
		refs[i] = r.BackendRefs
	}
	var all []*Backend
	for _, bs := range v.routeBackends(x, refs, e) {
		all = append(all, bs...)
	}
	v.attachRoute(x, tr.Spec.Hostnames, e, func() []*Rule {
		return []*Rule{{Index: 0, Backends: all}}
	})
}

// l4Spec is the part of s Envoy Gateway applies to a TCP route, and the
// fields it leaves out (spec paths, sorted). Envoy Gateway drops the others
// without a word in the status (the policy stays Accepted); btp reports
// them as warnings.
func l4Spec(kind string, s *egv1a1.BackendTrafficPolicySpec) (*egv1a1.BackendTrafficPolicySpec, []string) {
	out := &egv1a1.BackendTrafficPolicySpec{}
	out.LoadBalancer = s.LoadBalancer
	out.DNS = s.DNS
	var dropped []string
	if kind != KindUDPRoute {
		out.CircuitBreaker = s.CircuitBreaker
		out.HealthCheck = s.HealthCheck
		out.TCPKeepalive = s.TCPKeepalive
		out.ProxyProtocol = s.ProxyProtocol
		out.Connection = s.Connection
	}
	if s.Timeout != nil && kind != KindUDPRoute {
		if s.Timeout.TCP != nil {
			out.Timeout = &egv1a1.Timeout{TCP: s.Timeout.TCP}
		}
		if s.Timeout.HTTP != nil {
			dropped = append(dropped, "spec.timeout.http")
		}
	}
	if lb := s.LoadBalancer; lb != nil && lb.ConsistentHash != nil && lb.ConsistentHash.Type != egv1a1.SourceIPConsistentHashType {
		// Envoy's tcp_proxy and udp_proxy hash on the source address only
		// (buildTCPProxyHashPolicy, buildUDPProxyHashPolicy); any other
		// key leaves them unhashed.
		dropped = append(dropped, "spec.loadBalancer.consistentHash.type "+string(lb.ConsistentHash.Type))
	}
	for k := range specFieldsSet(s) {
		if !in(k, l4Fields[kind]...) && !in(k, "targetRef", "targetRefs", "targetSelectors", "mergeType") {
			dropped = append(dropped, "spec."+k)
		}
	}
	sort.Strings(dropped)
	return out, dropped
}

// specFieldsSet lists the top-level spec fields s sets, by JSON name.
func specFieldsSet(s *egv1a1.BackendTrafficPolicySpec) map[string]bool {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	raw := map[string]any{}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil
	}
	out := map[string]bool{}
	for k := range raw {
		out[k] = true
	}
	return out
}

// l4Warning words the fields a TCP route does not take from its policy.
func l4Warning(kind, route, listener string, dropped []string) string {
	f := l4Fields[kind]
	return fmt.Sprintf("does not apply to %s %s on listener %s, as in Envoy Gateway (a %s takes only %s; the policy stays Accepted): %s",
		kind, route, listener, kind, strings.Join(f[:len(f)-1], ", ")+" and "+f[len(f)-1], strings.Join(dropped, ", "))
}

func (a *attacher) markBadField(p *egv1a1.BackendTrafficPolicy, field string) {
	id := resourceID("BackendTrafficPolicy", p.Namespace, p.Name)
	a.badFields[id] = append(a.badFields[id], field)
}

// isBad reports whether p has a problem in its top-level spec field f
// (JSON name), found by Read or by the translator checks.
func (a *attacher) isBad(p *egv1a1.BackendTrafficPolicy, f string) bool {
	id := resourceID("BackendTrafficPolicy", p.Namespace, p.Name)
	fields := append([]string(nil), a.badFields[id]...)
	for _, why := range a.v.r.invalid[id] {
		if field, _, ok := strings.Cut(why, ": "); ok {
			fields = append(fields, field)
		}
	}
	for _, field := range fields {
		top := strings.TrimPrefix(field, "spec.")
		if i := strings.IndexAny(top, ".["); i >= 0 {
			top = top[:i]
		}
		if top == f {
			return true
		}
	}
	return false
}

// effectiveL4 sets the policy of a TCPRoute's (or UDPRoute's) rule on one listener the way
// Envoy Gateway fills an IR TCP route: field by field, each L4 feature from
// the most specific policy that sets it (setIfNil in
// applyTrafficFeatureToRoute, then translateBackendTrafficPolicyForListeners
// for the listener's and the Gateway's policy, which leaves connection out).
// A policy's translation errors only drop the features that failed: Envoy
// Gateway sets no direct response on a TCP route, it copies what built.
// A route policy whose merge failed contributes nothing there.
func (a *attacher) effectiveL4(rk routeKey, at *attachment) {
	rule := at.route.Rules[0]
	var chain []scope
	if rule.Name != nil {
		chain = append(chain, scope{kind: scopeRule, name: rk.NamespacedName, section: *rule.Name, routeKind: rk.kind})
	}
	chain = append(chain, scope{kind: scopeRoute, name: rk.NamespacedName, routeKind: rk.kind})
	chain = append(chain, listenerChain(at)...)
	spec := &egv1a1.BackendTrafficPolicySpec{}
	set := false
	for _, sc := range chain {
		p := a.claimed[sc]
		if p == nil {
			continue
		}
		if _, failed := a.mergeFailed[sc][at.listener]; failed {
			continue
		}
		src := &p.Spec
		if ap := a.merges[sc][at.listener]; ap != nil {
			src = ap.spec
		}
		l4, dropped := l4Spec(rk.kind, src)
		gatewayLevel := sc.kind == scopeListener || sc.kind == scopeGateway || sc.kind == scopeListenerSet || sc.kind == scopeListenerSetListener
		took := false
		take := func(field string, have bool, apply func()) {
			if !have || a.isBad(p, field) || (gatewayLevel && field == "connection") {
				return
			}
			apply()
			took = true
		}
		take("loadBalancer", l4.LoadBalancer != nil && spec.LoadBalancer == nil, func() { spec.LoadBalancer = l4.LoadBalancer })
		take("proxyProtocol", l4.ProxyProtocol != nil && spec.ProxyProtocol == nil, func() { spec.ProxyProtocol = l4.ProxyProtocol })
		take("healthCheck", l4.HealthCheck != nil && spec.HealthCheck == nil, func() { spec.HealthCheck = l4.HealthCheck })
		take("circuitBreaker", l4.CircuitBreaker != nil && spec.CircuitBreaker == nil, func() { spec.CircuitBreaker = l4.CircuitBreaker })
		take("tcpKeepalive", l4.TCPKeepalive != nil && spec.TCPKeepalive == nil, func() { spec.TCPKeepalive = l4.TCPKeepalive })
		// The IR takes the policy's whole timeout (set by timeout.http
		// alone too), so a less specific timeout.tcp does not fill it.
		take("timeout", src.Timeout != nil && !set && spec.Timeout == nil, func() { spec.Timeout = l4.Timeout })
		take("connection", l4.Connection != nil && spec.Connection == nil, func() { spec.Connection = l4.Connection })
		take("dns", l4.DNS != nil && spec.DNS == nil, func() { spec.DNS = l4.DNS })
		if src.Timeout != nil {
			set = true
		}
		if gatewayLevel && src.Connection != nil && rk.kind != KindUDPRoute {
			dropped = append(dropped, "spec.connection (from a Gateway or listener policy)")
		}
		if len(dropped) > 0 {
			a.v.model.Warnings = append(a.v.model.Warnings, &Error{
				File: a.v.r.File("BackendTrafficPolicy", p.Namespace, p.Name), Resource: resourceID("BackendTrafficPolicy", p.Namespace, p.Name),
				Msg: l4Warning(rk.kind, rk.NamespacedName.String(), at.gateway.String()+"/"+at.listener.Name, dropped),
			})
		}
		if took || len(rule.PolicySources) == 0 && a.invalid(p) == "" {
			rule.PolicySources = append(rule.PolicySources, nn(p))
		}
	}
	if len(rule.PolicySources) > 0 {
		rule.Policy = spec
	}
}
