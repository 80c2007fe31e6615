package bootstrap

import (
	"fmt"
	"sort"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/envoy-btp/envoy-btp/policy"
)

// httpsListener renders the HTTPS Gateway listeners sharing one port as
// Envoy Gateway does: one Envoy listener (named after the first), one
// filter chain per Gateway listener with its own HTTP connection manager
// and routes, chosen by SNI — filter_chain_match.server_names is the
// listener's hostname (addServerNamesMatch; a listener without hostname
// takes every name), read by the tls_inspector listener filter — and
// terminating TLS with the listener's certificates
// (buildXdsDownstreamTLSSocket: ALPN h2 and http/1.1, the certificates as
// secrets named NS/SECRET in static_resources.secrets, Envoy Gateway's SDS
// names).
func (r *renderer) httpsListener(ps []*port) *listenerv3.Listener {
	lis := &listenerv3.Listener{Name: ps[0].name, Address: socketAddress("0.0.0.0", uint32(ps[0].number))}
	sni := false
	names := map[string]string{} // server name ("" for any) -> listener
	for _, p := range ps {
		host := ""
		if h := p.tls.Hostname; h != nil {
			host = *h
		}
		if prev, dup := names[host]; dup {
			r.errs = append(r.errs, &policy.Error{Resource: "Gateway listener " + p.name,
				Msg: fmt.Sprintf("HTTPS on port %d for hostname %q is already served by listener %s: SNI cannot tell them apart", p.number, host, prev)})
			continue
		}
		names[host] = p.name
		fc := r.listener(p).FilterChains[0]
		fc.Name = p.name
		if h := p.tls.Hostname; h != nil && *h != "" {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{*h}}
			sni = true
		}
		fc.TransportSocket = r.downstreamTLS(p.tls.TLS, []string{"h2", "http/1.1"})
		lis.FilterChains = append(lis.FilterChains, fc)
	}
	if sni {
		lis.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       "envoy.filters.listener.tls_inspector",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
		}}
	}
	return lis
}

// downstreamTLS is the transport socket terminating TLS with a listener's
// certificates, as Envoy Gateway's buildXdsDownstreamTLSSocket: the
// certificates become secrets named NS/SECRET (Envoy Gateway's SDS names)
// in static_resources.secrets. alpn is h2 and http/1.1 on HTTPS and none
// on a TLS listener (irTLSConfigsForTCPListener disables ALPN there).
func (r *renderer) downstreamTLS(t *policy.ListenerTLS, alpn []string) *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: alpn}}
	for _, c := range t.Certificates {
		name := c.Secret.Namespace + "/" + c.Secret.Name
		r.secrets[name] = &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.Chain}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.Key}},
		}}}
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs, &tlsv3.SdsSecretConfig{Name: name})
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
}

// statPrefix is the HTTP connection manager's: http-PORT, or https-PORT on
// an HTTPS listener, as Envoy Gateway names them.
func statPrefix(p *port) string {
	if p.tls != nil {
		return "https-" + strconv.Itoa(int(p.number))
	}
	return "http-" + strconv.Itoa(int(p.number))
}

func (r *renderer) sortedSecrets() []*tlsv3.Secret {
	names := make([]string, 0, len(r.secrets))
	for n := range r.secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*tlsv3.Secret, len(names))
	for i, n := range names {
		out[i] = r.secrets[n]
	}
	return out
}
