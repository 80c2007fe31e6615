package bootstrap

import (
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	randomv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/random/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	"google.golang.org/protobuf/proto"
)

// endpointOverrideCluster renders spec.loadBalancer.endpointOverride as
// Envoy Gateway's buildEndpointOverrideLoadBalancingPolicy does: Envoy's
// override_host policy reads the endpoints (IP:PORT[,IP:PORT...]) from the
// named headers and falls back to the policy's type, bare, when none is
// usable. Envoy Gateway drops slowStart and zoneAware there; btp refuses
// them instead of dropping them.
func endpointOverrideCluster(c *ruleCtx, t *clusterTemplate) {
	lb := c.spec.LoadBalancer
	if lb == nil || lb.EndpointOverride == nil {
		return
	}
	const f = "spec.loadBalancer.endpointOverride"
	eo := lb.EndpointOverride
	if len(eo.ExtractFrom) == 0 {
		c.fail(f+".extractFrom", nil, "needs at least one source")
		return
	}
	if lb.SlowStart != nil {
		c.fail("spec.loadBalancer.slowStart", nil, "cannot be used with endpointOverride (Envoy Gateway's fallback policy has no slow start)")
	}
	if lb.ZoneAware != nil {
		c.fail("spec.loadBalancer.zoneAware", nil, "cannot be used with endpointOverride (Envoy Gateway's fallback policy is not zone aware)")
	}
	oh := &overridehostv3.OverrideHost{}
	for i, src := range eo.ExtractFrom {
		if src.Header == nil || *src.Header == "" {
			c.fail(fmt.Sprintf("%s.extractFrom[%d].header", f, i), nil, "is required: the header carrying IP:PORT")
			continue
		}
		oh.OverrideHostSources = append(oh.OverrideHostSources, &overridehostv3.OverrideHost_OverrideHostSource{Header: *src.Header})
	}
	var name string
	var fallback proto.Message
	switch lb.Type {
	case egv1a1.BackendUtilizationLoadBalancerType:
		// The cluster's policy loadBalancerCluster built is the fallback.
		oh.FallbackPolicy = t.cluster.LoadBalancingPolicy
	case egv1a1.RoundRobinLoadBalancerType:
		name, fallback = "envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{}
	case egv1a1.RandomLoadBalancerType:
		name, fallback = "envoy.load_balancing_policies.random", &randomv3.Random{}
	case egv1a1.ConsistentHashLoadBalancerType:
		name, fallback = "envoy.load_balancing_policies.maglev", &maglevv3.Maglev{}
	default: // LeastRequest; other types were refused by loadBalancerCluster
		name, fallback = "envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{}
	}
	if oh.FallbackPolicy == nil {
		oh.FallbackPolicy = lbPolicy(name, fallback)
	}
	t.cluster.LoadBalancingPolicy = lbPolicy("envoy.load_balancing_policies.override_host", oh)
	if t.cluster.CommonLbConfig != nil {
		// Envoy refuses a locality setting beside load_balancing_policy.
		t.cluster.CommonLbConfig.LocalityConfigSpecifier = nil
	}
}

func lbPolicy(name string, cfg proto.Message) *clusterv3.LoadBalancingPolicy {
	return &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: mustAny(cfg)},
	}}}
}
