package bootstrap

import (
	"fmt"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	udpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// udpListener renders a Gateway listener of protocol UDP as Envoy Gateway's
// buildXdsUDPListener does: an Envoy UDP listener (NS/GATEWAY/LISTENER)
// whose udp_proxy listener filter (stat prefix "service") sends every
// datagram to the cluster of the listener's oldest UDPRoute,
// udproute/NS/NAME/rule/-1. The cluster takes loadBalancer and dns from the
// policy (policy.Rule.Policy holds only those, UDPRouteTranslator's cluster
// arguments); a SourceIP consistent hash becomes the udp_proxy's hash
// policy (buildUDPProxyHashPolicy). Envoy Gateway weighs several backendRefs
// as localities of that one cluster; btp renders one backendRef and refuses
// more. A listener without a UDPRoute renders nothing.
func (r *renderer) udpListener(gw string, l *policy.Listener) *listenerv3.Listener {
	var rt *policy.Route
	for _, x := range l.Routes {
		if x.Kind == policy.KindUDPRoute {
			rt = x
			break
		}
	}
	if rt == nil || len(rt.Rules) == 0 {
		return nil
	}
	rule := rt.Rules[0]
	name := gw + "/" + l.Name
	spec := rule.Policy
	if spec == nil {
		spec = &egv1a1.BackendTrafficPolicySpec{}
	}
	c := &ruleCtx{
		scope: &scope{list: &r.errs, resource: policyResource(rt, rule), where: fmt.Sprintf("udproute/%s/%s, listener %s", rt.Name.Namespace, rt.Name.Name, name)},
		r:     r, listener: name, spec: spec, rt: rt, rule: rule, route: &routev3.Route{},
	}
	before := len(r.errs)
	checkSupported(spec, c.scope)
	var live []*policy.Backend
	for _, b := range rule.Backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	switch len(live) {
	case 0:
		live = append(live, &policy.Backend{Weight: 1}) // no endpoints: every datagram dropped
	case 1:
	default:
		r.errs = append(r.errs, &policy.Error{Resource: "UDPRoute/" + rt.Name.Namespace + "/" + rt.Name.Name, Field: "spec.rules[0].backendRefs",
			Msg: fmt.Sprintf("%d backends with weight: envoy-btp renders a UDPRoute with one backendRef", len(live))})
	}
	if len(r.errs) > before {
		return nil
	}
	t := c.template(protocolDefault)
	if t == nil {
		return nil
	}
	cluster := r.addCluster(t.build(fmt.Sprintf("udproute/%s/%s/rule/-1", rt.Name.Namespace, rt.Name.Name), live[0]))
	proxy := &udpv3.UdpProxyConfig{
		StatPrefix: "service",
		RouteSpecifier: &udpv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{
			OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: mustAny(&udpv3.Route{Cluster: cluster})},
			}},
		}},
	}
	if lb := spec.LoadBalancer; lb != nil && lb.ConsistentHash != nil && lb.ConsistentHash.Type == egv1a1.SourceIPConsistentHashType {
		proxy.HashPolicies = []*udpv3.UdpProxyConfig_HashPolicy{{PolicySpecifier: &udpv3.UdpProxyConfig_HashPolicy_SourceIp{SourceIp: true}}}
	}
	addr := socketAddress("0.0.0.0", uint32(l.Port))
	addr.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
	return &listenerv3.Listener{
		Name:    name,
		Address: addr,
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       "envoy.filters.udp_listener.udp_proxy",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(proxy)},
		}},
	}
}
