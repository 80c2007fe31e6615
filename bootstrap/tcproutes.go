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
	rule := rt.Rules[0]
	name := gw + "/" + l.Name
	base := fmt.Sprintf("tcproute/%s/%s/rule/-1", rt.Name.Namespace, rt.Name.Name)
	spec := rule.Policy
	if spec == nil {
		spec = &egv1a1.BackendTrafficPolicySpec{}
	}
	c := &ruleCtx{
		scope: &scope{list: &r.errs, resource: policyResource(rt, rule), where: fmt.Sprintf("tcproute/%s/%s, listener %s", rt.Name.Namespace, rt.Name.Name, name)},
		r:     r, listener: name, spec: spec, rt: rt, rule: rule, route: &routev3.Route{},
	}
	before := len(r.errs)
	checkSupported(spec, c.scope)
	if len(r.errs) > before {
		return nil
	}
	proxy := &tcpv3.TcpProxy{StatPrefix: "tcp-" + strconv.Itoa(int(l.Port))}
	var live []*policy.Backend
	for _, b := range rule.Backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	switch {
	case len(live) == 0:
		// No usable backend: Envoy Gateway's TCP route has no cluster to
		// reach; a cluster without endpoints refuses every connection.
		live = append(live, &policy.Backend{Weight: 1})
		fallthrough
	case len(live) == 1:
		t := c.template(protocolDefault)
		if t == nil {
			return nil
		}
		proxy.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: r.addCluster(t.build(base, live[0]))}
	default:
		t := c.template(protocolDefault)
		if t == nil {
			return nil
		}
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
	return &listenerv3.Listener{
		Name:    name,
		Address: socketAddress("0.0.0.0", uint32(l.Port)),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.tcp_proxy",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(proxy)},
			}},
		}},
	}
}

// isTCP reports whether a listener carries TCP routes rather than HTTP.
func isTCP(l *policy.Listener) bool { return strings.EqualFold(string(l.Protocol), "TCP") }

// isUDP reports whether a listener carries UDP routes.
func isUDP(l *policy.Listener) bool { return strings.EqualFold(string(l.Protocol), "UDP") }
