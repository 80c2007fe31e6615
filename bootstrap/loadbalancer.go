package bootstrap

import (
	"sort"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	randomv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/random/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// maxMaglevTable is the largest table Envoy's Maglev accepts.
const maxMaglevTable = 5000011

// loadBalancerCluster renders spec.loadBalancer as the cluster's
// load_balancing_policy (LeastRequest when unset, as Envoy Gateway does).
func loadBalancerCluster(c *ruleCtx, t *clusterTemplate) {
	lb := c.spec.LoadBalancer
	var name string
	var cfg proto.Message
	if lb == nil {
		name, cfg = "envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{}
	} else {
		const f = "spec.loadBalancer"
		locality := zoneAware(c, lb)
		t.zonal = locality != nil
		weighted := weightedZones(c, lb, t)
		if weighted != nil {
			locality = &commonv3.LocalityLbConfig{LocalityConfigSpecifier: &commonv3.LocalityLbConfig_LocalityWeightedLbConfig_{LocalityWeightedLbConfig: weighted}}
		}
		var slow *commonv3.SlowStartConfig
		if lb.SlowStart != nil {
			if lb.Type != egv1a1.LeastRequestLoadBalancerType && lb.Type != egv1a1.RoundRobinLoadBalancerType && lb.Type != egv1a1.BackendUtilizationLoadBalancerType {
				c.fail(f+".slowStart", nil, "allowed only with type LeastRequest, RoundRobin or BackendUtilization")
			} else if lb.SlowStart.Window == nil {
				c.fail(f+".slowStart.window", nil, "is required")
			} else if d, ok := c.duration(f+".slowStart.window", lb.SlowStart.Window); ok {
				slow = &commonv3.SlowStartConfig{SlowStartWindow: d}
			}
		}
		if lb.ConsistentHash != nil && lb.Type != egv1a1.ConsistentHashLoadBalancerType {
			c.fail(f+".consistentHash", nil, "allowed only with type ConsistentHash")
		}
		if lb.BackendUtilization != nil && lb.Type != egv1a1.BackendUtilizationLoadBalancerType {
			c.fail(f+".backendUtilization", nil, "allowed only with type BackendUtilization")
		}
		switch lb.Type {
		case egv1a1.LeastRequestLoadBalancerType:
			name, cfg = "envoy.load_balancing_policies.least_request",
				&leastrequestv3.LeastRequest{SlowStartConfig: slow, LocalityLbConfig: locality}
		case egv1a1.RoundRobinLoadBalancerType:
			name, cfg = "envoy.load_balancing_policies.round_robin",
				&roundrobinv3.RoundRobin{SlowStartConfig: slow, LocalityLbConfig: locality}
		case egv1a1.RandomLoadBalancerType:
			name, cfg = "envoy.load_balancing_policies.random", &randomv3.Random{LocalityLbConfig: locality}
		case egv1a1.ConsistentHashLoadBalancerType:
			if lb.ZoneAware != nil && lb.ZoneAware.PreferLocal != nil {
				c.fail(f+".zoneAware.preferLocal", nil, "is not supported with type ConsistentHash")
			}
			m := &maglevv3.Maglev{LocalityWeightedLbConfig: weighted}
			if ch := lb.ConsistentHash; ch == nil {
				c.fail(f+".consistentHash", nil, "is required with type ConsistentHash")
			} else if ch.TableSize != nil {
				if n := *ch.TableSize; n < 2 || n > maxMaglevTable || !prime(n) {
					c.fail(f+".consistentHash.tableSize", n, "allowed a prime number from 2 to 5000011 (default 65537)")
				}
				m.TableSize = wrapperspb.UInt64(*ch.TableSize)
			}
			name, cfg = "envoy.load_balancing_policies.maglev", m
		case egv1a1.BackendUtilizationLoadBalancerType:
			if lb.ZoneAware != nil && lb.ZoneAware.PreferLocal != nil {
				c.fail(f+".zoneAware.preferLocal", nil, "is not supported with type BackendUtilization (weightedZones is)")
			}
			t.cluster.LoadBalancingPolicy = backendUtilizationPolicy(c, lb, slow, weighted != nil)
			return
		case "":
			c.fail(f+".type", nil, "is required: allowed BackendUtilization, ConsistentHash, LeastRequest, Random, RoundRobin")
			return
		default:
			c.fail(f+".type", string(lb.Type), "allowed BackendUtilization, ConsistentHash, LeastRequest, Random, RoundRobin")
			return
		}
	}
	t.cluster.LoadBalancingPolicy = &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: mustAny(cfg)},
	}}}
}

// zoneAware renders loadBalancer.zoneAware.preferLocal as Envoy's zone-aware
// routing (Envoy Gateway's defaults: 6 endpoints minimum, force needs 1).
func zoneAware(c *ruleCtx, lb *egv1a1.LoadBalancer) *commonv3.LocalityLbConfig {
	if lb.ZoneAware == nil || lb.ZoneAware.PreferLocal == nil {
		return nil
	}
	pl := lb.ZoneAware.PreferLocal
	z := &commonv3.LocalityLbConfig_ZoneAwareLbConfig{MinClusterSize: wrapperspb.UInt64(6)}
	if pl.MinEndpointsThreshold != nil {
		z.MinClusterSize = wrapperspb.UInt64(*pl.MinEndpointsThreshold)
	}
	if pl.PercentageEnabled != nil {
		if v, ok := c.percent("spec.loadBalancer.zoneAware.preferLocal.percentageEnabled", int64(*pl.PercentageEnabled)); ok {
			z.RoutingEnabled = &typev3.Percent{Value: v}
		}
	}
	if pl.Force != nil {
		minSize := uint32(1)
		if pl.Force.MinEndpointsInZoneThreshold != nil {
			minSize = *pl.Force.MinEndpointsInZoneThreshold
		}
		z.ForceLocalZone = &commonv3.LocalityLbConfig_ZoneAwareLbConfig_ForceLocalZone{MinSize: u32(minSize)}
	}
	return &commonv3.LocalityLbConfig{LocalityConfigSpecifier: &commonv3.LocalityLbConfig_ZoneAwareLbConfig_{ZoneAwareLbConfig: z}}
}

// loadBalancerRoute renders consistentHash's inputs as the route's
// hash_policy; weighted clusters then pick by the same hash.
func loadBalancerRoute(c *ruleCtx) {
	backendUtilizationRoute(c)
	lb := c.spec.LoadBalancer
	if lb == nil || lb.Type != egv1a1.ConsistentHashLoadBalancerType || lb.ConsistentHash == nil {
		return
	}
	const f = "spec.loadBalancer.consistentHash"
	ch := lb.ConsistentHash
	var hp []*routev3.RouteAction_HashPolicy
	header := func(name string) *routev3.RouteAction_HashPolicy {
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: name}}}
	}
	switch ch.Type {
	case egv1a1.SourceIPConsistentHashType:
		hp = append(hp, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}})
	case egv1a1.HeaderConsistentHashType:
		if ch.Header == nil || ch.Header.Name == "" {
			c.fail(f+".header.name", nil, "is required with type Header")
			return
		}
		hp = append(hp, header(ch.Header.Name))
	case egv1a1.HeadersConsistentHashType:
		if len(ch.Headers) == 0 {
			c.fail(f+".headers", nil, "needs at least one header with type Headers")
			return
		}
		for _, h := range ch.Headers {
			hp = append(hp, header(h.Name))
		}
	case egv1a1.CookieConsistentHashType:
		if ch.Cookie == nil || ch.Cookie.Name == "" {
			c.fail(f+".cookie.name", nil, "is required with type Cookie")
			return
		}
		ck := &routev3.RouteAction_HashPolicy_Cookie{Name: ch.Cookie.Name}
		c.setDuration(f+".cookie.ttl", ch.Cookie.TTL, &ck.Ttl)
		names := make([]string, 0, len(ch.Cookie.Attributes))
		for k := range ch.Cookie.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			ck.Attributes = append(ck.Attributes, &routev3.RouteAction_HashPolicy_CookieAttribute{Name: k, Value: ch.Cookie.Attributes[k]})
		}
		hp = append(hp, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: ck}})
	case egv1a1.QueryParamsConsistentHashType:
		if len(ch.QueryParams) == 0 {
			c.fail(f+".queryParams", nil, "needs at least one parameter with type QueryParams")
			return
		}
		for _, q := range ch.QueryParams {
			hp = append(hp, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
				QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: q.Name}}})
		}
	default:
		c.fail(f+".type", string(ch.Type), "allowed SourceIP, Header, Headers, Cookie, QueryParams")
		return
	}
	c.action.HashPolicy = hp
	if wc := c.action.GetWeightedClusters(); wc != nil {
		wc.RandomValueSpecifier = &routev3.WeightedCluster_UseHashPolicy{UseHashPolicy: wrapperspb.Bool(true)}
	}
}

func prime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
