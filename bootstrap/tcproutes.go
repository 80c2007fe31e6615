package bootstrap

import (
	"fmt"
	"strconv"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// tcpListener renders a Gateway listener of protocol TCP as Envoy Gateway's
// addXdsTCPFilterChain does: one Envoy listener (NS/GATEWAY/LISTENER) whose
// filter chain is a tcp_proxy (stat prefix tcp-PORT) to the cluster of the
// listener's oldest TCPRoute; Envoy Gateway attaches only that one
// (processTCPRouteParentRefs). The cluster carries the L4 fields of the
// route's policy (policy.Rule.Policy holds only those: loadBalancer,
// circuitBreaker, healthCheck, timeout.tcp, tcpKeepalive, proxyProtocol, dns,
// connection), built by the same feature files as an HTTP rule's cluster;
// a SourceIP consistent hash becomes the tcp_proxy's hash_policy
// (buildTCPProxyHashPolicy). A listener without a TCPRoute renders nothing.
func (r *renderer) tcpListener(gw string, l *policy.Listener) *listenerv3.Listener {
	var rt *policy.Route
	for _, x := range l.Routes {
		if x.Kind == policy.KindTCPRoute {
			rt = x
			break
		}
	}
	if rt == nil || len(rt.Rules) == 0 {
		return nil
	}
	name := gw + "/" + l.Name
	proxy := r.tcpProxy(rt, name, "tcp-"+strconv.Itoa(int(l.Port)))
	if proxy == nil {
		return nil
	}
	return &listenerv3.Listener{
		Name:         name,
		Address:      socketAddress("0.0.0.0", uint32(l.Port)),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{tcpProxyFilter(proxy)}}},
	}
}

// tcpProxy renders an L4 route's (TCPRoute, TLSRoute) cluster and the
// tcp_proxy that reaches it; nil when the route's policy has errors.
func (r *renderer) tcpProxy(rt *policy.Route, listener, statPrefix string) *tcpv3.TcpProxy {
	rule := rt.Rules[0]
	kind := strings.ToLower(rt.Kind)
	base := fmt.Sprintf("%s/%s/%s/rule/-1", kind, rt.Name.Namespace, rt.Name.Name)
	spec := rule.Policy
	if spec == nil {
		spec = &egv1a1.BackendTrafficPolicySpec{}
	}
	c := &ruleCtx{
		scope: &scope{list: &r.errs, resource: policyResource(rt, rule), where: fmt.Sprintf("%s/%s/%s, listener %s", kind, rt.Name.Namespace, rt.Name.Name, listener)},
		r:     r, listener: listener, spec: spec, rt: rt, rule: rule, route: &routev3.Route{},
	}
	before := len(r.errs)
	checkSupported(spec, c.scope)
	if len(r.errs) > before {
		return nil
	}
	proxy := &tcpv3.TcpProxy{StatPrefix: statPrefix}
	var live []*policy.Backend
	for _, b := range rule.Backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	t := c.template(protocolDefault)
	if t == nil {
		return nil
	}
	switch len(live) {
	case 0:
		// No usable backend: a cluster without endpoints refuses every
		// connection, as Envoy Gateway's route without destinations.
		proxy.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: r.addCluster(t.build(base, &policy.Backend{}))}
	case 1:
		proxy.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: r.addCluster(t.build(base, live[0]))}
	default:
		wc := &tcpv3.TcpProxy_WeightedCluster{}
		for i, b := range rule.Backends {
			if b.Weight == 0 {
				continue
			}
			n := r.addCluster(t.build(fmt.Sprintf("%s/backend/%d", base, i), b))
			wc.Clusters = append(wc.Clusters, &tcpv3.TcpProxy_WeightedCluster_ClusterWeight{Name: n, Weight: uint32(b.Weight)})
		}
		proxy.ClusterSpecifier = &tcpv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	if lb := spec.LoadBalancer; lb != nil && lb.ConsistentHash != nil && lb.ConsistentHash.Type == egv1a1.SourceIPConsistentHashType {
		proxy.HashPolicy = []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}}
	}
	return proxy
}

func tcpProxyFilter(p *tcpv3.TcpProxy) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(p)}}
}

// isTCP reports whether a listener carries TCP routes rather than HTTP.
func isTCP(l *policy.Listener) bool { return strings.EqualFold(string(l.Protocol), "TCP") }

// isUDP reports whether a listener carries UDP routes.
func isUDP(l *policy.Listener) bool { return strings.EqualFold(string(l.Protocol), "UDP") }
