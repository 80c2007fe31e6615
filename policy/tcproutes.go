package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeTCP checks a TCPRoute and attaches it to the TCP listeners its
// parentRefs select. Envoy Gateway's processTCPRouteParentRefs takes one
// and only one rule; a TCPRoute carries no hostnames.
func (v *resolver) routeTCP(tr *gwapiv1.TCPRoute) {
	e := v.errs(KindTCPRoute, tr)
	if n := len(tr.Spec.Rules); n != 1 {
		e.add("spec.rules", "%d rules: Envoy Gateway supports one and only one rule on a TCPRoute", n)
		return
	}
	if tr.Spec.UseDefaultGateways != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	x := v.routes[routeKey{KindTCPRoute, nn(tr)}]
	backends := v.routeBackends(x, [][]gwapiv1.BackendRef{tr.Spec.Rules[0].BackendRefs}, e)
	v.attachRoute(x, nil, e, func() []*Rule {
		return []*Rule{{Index: 0, Name: (*string)(tr.Spec.Rules[0].Name), Backends: backends[0]}}
	})
}

// l4Fields are the BackendTrafficPolicy fields Envoy Gateway applies to a
// TCPRoute (applyTrafficFeatureToRoute and
// translateBackendTrafficPolicyForListeners copy only these into the IR
// TCP route; TCPRouteTranslator.asClusterArgs renders them on the cluster),
// beside the attachment fields. Of timeout, only timeout.tcp reaches a TCP
// connection.
var l4Fields = []string{"loadBalancer", "circuitBreaker", "healthCheck", "timeout", "tcpKeepalive", "proxyProtocol", "dns", "connection"}

// l4Spec is the part of s Envoy Gateway applies to a TCP route, and the
// fields it leaves out (spec paths, sorted). Envoy Gateway drops the others
// without a word in the status (the policy stays Accepted); btp reports
// them as warnings.
func l4Spec(s *egv1a1.BackendTrafficPolicySpec) (*egv1a1.BackendTrafficPolicySpec, []string) {
	out := &egv1a1.BackendTrafficPolicySpec{}
	out.LoadBalancer = s.LoadBalancer
	out.CircuitBreaker = s.CircuitBreaker
	out.HealthCheck = s.HealthCheck
	out.TCPKeepalive = s.TCPKeepalive
	out.ProxyProtocol = s.ProxyProtocol
	out.DNS = s.DNS
	out.Connection = s.Connection
	var dropped []string
	if s.Timeout != nil {
		if s.Timeout.TCP != nil {
			out.Timeout = &egv1a1.Timeout{TCP: s.Timeout.TCP}
		}
		if s.Timeout.HTTP != nil {
			dropped = append(dropped, "spec.timeout.http")
		}
	}
	if lb := s.LoadBalancer; lb != nil && lb.ConsistentHash != nil && lb.ConsistentHash.Type != egv1a1.SourceIPConsistentHashType {
		// Envoy's tcp_proxy hashes on the source address only
		// (buildTCPProxyHashPolicy); any other key leaves it unhashed.
		dropped = append(dropped, "spec.loadBalancer.consistentHash.type "+string(lb.ConsistentHash.Type))
	}
	for k := range specFieldsSet(s) {
		if !in(k, l4Fields...) && !in(k, "targetRef", "targetRefs", "targetSelectors", "mergeType") {
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
	return fmt.Sprintf("does not apply to %s %s on listener %s, as in Envoy Gateway (a TCP route takes only %s; the policy stays Accepted): %s",
		kind, route, listener, strings.Join(l4Fields[:len(l4Fields)-1], ", ")+" and "+l4Fields[len(l4Fields)-1], strings.Join(dropped, ", "))
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

// effectiveTCP sets the policy of a TCPRoute's rule on one listener the way
// Envoy Gateway fills an IR TCP route: field by field, each L4 feature from
// the most specific policy that sets it (setIfNil in
// applyTrafficFeatureToRoute, then translateBackendTrafficPolicyForListeners
// for the listener's and the Gateway's policy, which leaves connection out).
// A policy's translation errors only drop the features that failed: Envoy
// Gateway sets no direct response on a TCP route, it copies what built.
// A route policy whose merge failed contributes nothing there.
func (a *attacher) effectiveTCP(rk routeKey, at *attachment) {
	rule := at.route.Rules[0]
	var chain []scope
	if rule.Name != nil {
		chain = append(chain, scope{kind: scopeRule, name: rk.NamespacedName, section: *rule.Name, routeKind: rk.kind})
	}
	chain = append(chain, scope{kind: scopeRoute, name: rk.NamespacedName, routeKind: rk.kind},
		scope{kind: scopeListener, name: at.gateway, section: at.listener.Name}, scope{kind: scopeGateway, name: at.gateway})
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
		l4, dropped := l4Spec(src)
		gatewayLevel := sc.kind == scopeListener || sc.kind == scopeGateway
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
		if gatewayLevel && src.Connection != nil {
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
