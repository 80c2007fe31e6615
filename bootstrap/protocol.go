package bootstrap

import (
	"math"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Envoy Gateway's HTTP/2 window defaults.
const (
	http2StreamWindow     = 65536
	http2ConnectionWindow = 1048576
)

// protocolCluster renders spec.useClientProtocol and spec.http2 as the
// upstream protocol options. useClientProtocol speaks to the backend in the
// client's protocol (HTTP/2 settings apply to HTTP/2 clients); http2 alone
// makes Envoy speak HTTP/2 (h2c) to the backend, since a Backend here
// carries no appProtocol to say so.
func protocolCluster(c *ruleCtx, t *clusterTemplate) {
	useClient := c.spec.UseClientProtocol != nil && *c.spec.UseClientProtocol
	h2 := http2Options(c)
	switch {
	case useClient:
		if h2 == nil {
			h2 = &corev3.Http2ProtocolOptions{}
		}
		t.protocolOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
			UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
				HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
				Http2ProtocolOptions: h2,
			},
		}
	case h2 != nil:
		t.protocolOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: h2},
			},
		}
	}
}

func http2Options(c *ruleCtx) *corev3.Http2ProtocolOptions {
	h := c.spec.HTTP2
	if h == nil {
		return nil
	}
	const f = "spec.http2"
	o := &corev3.Http2ProtocolOptions{
		InitialStreamWindowSize:     u32(http2StreamWindow),
		InitialConnectionWindowSize: u32(http2ConnectionWindow),
	}
	window := func(field string, q any, dst **wrapperspb.UInt32Value, n uint32, ok bool) {
		if !ok {
			return
		}
		if n < 65535 || n > math.MaxInt32 {
			c.fail(f+"."+field, q, "allowed 65535 (64Ki - 1) to 2147483647 bytes")
			return
		}
		*dst = u32(n)
	}
	if q := h.InitialStreamWindowSize; q != nil {
		n, ok := c.bytes(f+".initialStreamWindowSize", q)
		window("initialStreamWindowSize", q.String(), &o.InitialStreamWindowSize, n, ok)
	}
	if q := h.InitialConnectionWindowSize; q != nil {
		n, ok := c.bytes(f+".initialConnectionWindowSize", q)
		window("initialConnectionWindowSize", q.String(), &o.InitialConnectionWindowSize, n, ok)
	}
	if v := h.MaxConcurrentStreams; v != nil {
		if *v < 1 || *v > math.MaxInt32 {
			c.fail(f+".maxConcurrentStreams", *v, "allowed 1-2147483647")
		}
		o.MaxConcurrentStreams = u32(*v)
	}
	if v := h.OnInvalidMessage; v != nil {
		switch *v {
		case egv1a1.InvalidMessageActionTerminateStream:
			o.OverrideStreamErrorOnInvalidHttpMessage = wrapperspb.Bool(true)
		case egv1a1.InvalidMessageActionTerminateConnection:
			o.OverrideStreamErrorOnInvalidHttpMessage = wrapperspb.Bool(false)
		default:
			c.fail(f+".onInvalidMessage", string(*v), "allowed TerminateConnection, TerminateStream")
		}
	}
	if k := h.ConnectionKeepalive; k != nil {
		ka := &corev3.KeepaliveSettings{}
		if k.Interval != nil {
			ka.Interval, _ = c.duration(f+".connectionKeepalive.interval", k.Interval)
		}
		if k.Timeout != nil {
			ka.Timeout, _ = c.duration(f+".connectionKeepalive.timeout", k.Timeout)
		} else {
			c.fail(f+".connectionKeepalive.timeout", nil, "is required when connectionKeepalive is set")
		}
		if k.IntervalJitter != nil {
			if v, ok := c.percent(f+".connectionKeepalive.intervalJitter", int64(*k.IntervalJitter)); ok {
				ka.IntervalJitter = &typev3.Percent{Value: v}
			}
		}
		if k.IdleInterval != nil {
			ka.ConnectionIdleInterval, _ = c.duration(f+".connectionKeepalive.idleInterval", k.IdleInterval)
		}
		o.ConnectionKeepalive = ka
	}
	return o
}
