package bootstrap

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// connectionCluster renders spec.connection: bufferLimit as the cluster's
// per-connection buffer limit, preconnect as its preconnect_policy.
func connectionCluster(c *ruleCtx, t *clusterTemplate) {
	bc := c.spec.Connection
	if bc == nil {
		return
	}
	const f = "spec.connection"
	if bc.BufferLimit != nil {
		if n, ok := c.bytes(f+".bufferLimit", bc.BufferLimit); ok {
			t.cluster.PerConnectionBufferLimitBytes = u32(n)
		}
	}
	pc := bc.Preconnect
	if pc == nil || (pc.PerEndpointPercent == nil && pc.PredictivePercent == nil) {
		return
	}
	p := &clusterv3.Cluster_PreconnectPolicy{}
	if v := pc.PerEndpointPercent; v != nil {
		if *v < 100 || *v > 300 {
			c.fail(f+".preconnect.perEndpointPercent", *v, "allowed 100-300")
		}
		p.PerUpstreamPreconnectRatio = wrapperspb.Double(float64(*v) / 100)
	}
	if v := pc.PredictivePercent; v != nil {
		if *v < 100 {
			c.fail(f+".preconnect.predictivePercent", *v, "allowed 100 or more")
		}
		if lb := c.spec.LoadBalancer; lb == nil || (lb.Type != egv1a1.RandomLoadBalancerType && lb.Type != egv1a1.RoundRobinLoadBalancerType) {
			c.fail(f+".preconnect.predictivePercent", *v, "allowed only with loadBalancer type Random or RoundRobin")
		}
		p.PredictivePreconnectRatio = wrapperspb.Double(float64(*v) / 100)
	}
	t.cluster.PreconnectPolicy = p
}
