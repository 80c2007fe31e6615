package bootstrap

import (
	"fmt"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// tlsListener renders the TLS (Passthrough) Gateway listeners on one port
// as Envoy Gateway does for TLSRoutes: one Envoy listener (named after the
// first) with the tls_inspector, and per attached TLSRoute a filter chain
// chosen by SNI — server_names are the route's hostnames intersected with
// the listener's (none: every name) — whose tcp_proxy (stat prefix
// tls-passthrough-PORT) forwards the still encrypted stream to the route's
// cluster tlsroute/NS/NAME/rule/-1 with the policy's L4 fields, as for a
// TCPRoute (addXdsTCPFilterChain with a TLS inspector config). Two chains
// for the same names are an error: SNI could not tell them apart.
func (r *renderer) tlsListener(gw map[*policy.Listener]string, ls []*policy.Listener) *listenerv3.Listener {
	port := ls[0].Port
	lis := &listenerv3.Listener{Name: gw[ls[0]] + "/" + ls[0].Name, Address: socketAddress("0.0.0.0", uint32(port))}
	seen := map[string]string{}
	for _, l := range ls {
		name := gw[l] + "/" + l.Name
		for _, rt := range l.Routes {
			if rt.Kind != policy.KindTLSRoute || len(rt.Rules) == 0 {
				continue
			}
			var names []string
			for _, h := range rt.Hostnames {
				if h != "*" && h != "" {
					names = append(names, h)
				}
			}
			key := fmt.Sprint(names)
			if prev, dup := seen[key]; dup {
				r.errs = append(r.errs, &policy.Error{Resource: "TLSRoute/" + rt.Name.Namespace + "/" + rt.Name.Name,
					Msg: fmt.Sprintf("on listener %s: SNI names %v are already routed by %s", name, names, prev)})
				continue
			}
			seen[key] = "TLSRoute " + rt.Name.String()
			proxy := r.tcpProxy(rt, name, "tls-passthrough-"+strconv.Itoa(int(port)))
			if proxy == nil {
				continue
			}
			fc := &listenerv3.FilterChain{Name: name + "/" + rt.Name.Namespace + "/" + rt.Name.Name, Filters: []*listenerv3.Filter{tcpProxyFilter(proxy)}}
			if len(names) > 0 {
				fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
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
