package bootstrap

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// keepaliveCluster renders spec.tcpKeepalive as the upstream connection's
// TCP keepalive (the OS defaults apply to fields left unset).
func keepaliveCluster(c *ruleCtx, t *clusterTemplate) {
	k := c.spec.TCPKeepalive
	if k == nil {
		return
	}
	ka := &corev3.TcpKeepalive{}
	if k.Probes != nil {
		ka.KeepaliveProbes = u32(*k.Probes)
	}
	if k.IdleTime != nil {
		if s, ok := c.seconds("spec.tcpKeepalive.idleTime", k.IdleTime); ok {
			ka.KeepaliveTime = u32(s)
		}
	}
	if k.Interval != nil {
		if s, ok := c.seconds("spec.tcpKeepalive.interval", k.Interval); ok {
			ka.KeepaliveInterval = u32(s)
		}
	}
	t.cluster.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: ka}
}
