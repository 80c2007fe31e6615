package bootstrap

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/proxy_protocol/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
)

// proxyProtocolCluster renders spec.proxyProtocol as the upstream PROXY
// protocol transport socket wrapping a plain (raw buffer) socket.
func proxyProtocolCluster(c *ruleCtx, t *clusterTemplate) {
	pp := c.spec.ProxyProtocol
	if pp == nil {
		return
	}
	var v corev3.ProxyProtocolConfig_Version
	switch pp.Version {
	case egv1a1.ProxyProtocolVersionV1:
		v = corev3.ProxyProtocolConfig_V1
	case egv1a1.ProxyProtocolVersionV2:
		v = corev3.ProxyProtocolConfig_V2
	default:
		c.fail("spec.proxyProtocol.version", string(pp.Version), "allowed V1, V2")
		return
	}
	t.cluster.TransportSocket = &corev3.TransportSocket{
		Name: "envoy.transport_sockets.upstream_proxy_protocol",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&proxyprotocolv3.ProxyProtocolUpstreamTransport{
			Config: &corev3.ProxyProtocolConfig{Version: v},
			TransportSocket: &corev3.TransportSocket{
				Name:       "envoy.transport_sockets.raw_buffer",
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})},
			},
		})},
	}
}
