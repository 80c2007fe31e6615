package bootstrap

import (
	"fmt"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// tlsListener renders the TLS Gateway listeners on one port as Envoy
// Gateway does for their TLSRoutes and TCPRoutes: one Envoy listener (named
// after the first) with the tls_inspector, and per attached route a filter
// chain chosen by SNI whose tcp_proxy reaches the route's cluster
// (tlsroute/NS/NAME/rule/-1 or tcproute/...) with the policy's L4 fields, as
// for a TCPRoute (addXdsTCPFilterChain). On a Passthrough listener only
// TLSRoutes attach; server_names are the route's hostnames intersected with
// the listener's (none: every name) and the stream stays encrypted (stat
// prefix tls-passthrough-PORT). On a Terminate listener the chain decrypts
// with the listener's certificates, as an HTTPS listener's, and forwards the
// plaintext (tls-terminate-PORT); a TLSRoute takes its SNI names as on
// Passthrough, the oldest TCPRoute the listener's hostname
// (processTCPRouteParentRefs attaches that one only). Two chains for the
// same names are an error: SNI could not tell them apart.
func (r *renderer) tlsListener(gw map[*policy.Listener]string, ls []*policy.Listener) *listenerv3.Listener {
	port := ls[0].Port
	lis := &listenerv3.Listener{Name: gw[ls[0]] + "/" + ls[0].Name, Address: socketAddress("0.0.0.0", uint32(port))}
	seen := map[string]string{}
	for _, l := range ls {
		name := gw[l] + "/" + l.Name
		stat := "tls-passthrough-" + strconv.Itoa(int(port))
		if l.TLS != nil {
			stat = "tls-terminate-" + strconv.Itoa(int(port))
		}
		tcpRoute := false
		for _, rt := range l.Routes {
			if len(rt.Rules) == 0 {
				continue
			}
			var names []string
			switch {
			case rt.Kind == policy.KindTLSRoute:
				for _, h := range rt.Hostnames {
					if h != "*" && h != "" {
						names = append(names, h)
					}
				}
			case rt.Kind == policy.KindTCPRoute && l.TLS != nil && !tcpRoute:
				tcpRoute = true
				if h := l.Hostname; h != nil && *h != "" && *h != "*" {
					names = []string{*h}
				}
			default:
				continue
			}
			key := fmt.Sprint(names)
			if prev, dup := seen[key]; dup {
				r.errs = append(r.errs, &policy.Error{Resource: rt.Kind + "/" + rt.Name.Namespace + "/" + rt.Name.Name,
					Msg: fmt.Sprintf("on listener %s: SNI names %v are already routed by %s", name, names, prev)})
				continue
			}
			seen[key] = rt.Kind + " " + rt.Name.String()
			proxy := r.tcpProxy(rt, name, stat)
			if proxy == nil {
				continue
			}
			fc := &listenerv3.FilterChain{Name: name + "/" + rt.Name.Namespace + "/" + rt.Name.Name, Filters: []*listenerv3.Filter{tcpProxyFilter(proxy)}}
			if len(names) > 0 {
				fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
			}
			if l.TLS != nil {
				fc.TransportSocket = r.downstreamTLS(l.TLS, nil)
			}
			lis.FilterChains = append(lis.FilterChains, fc)
		}
	}
	if len(lis.FilterChains) == 0 {
		return nil
	}
	lis.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
	}}
	return lis
}
