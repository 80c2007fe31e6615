package bootstrap

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
)

// weightedZones renders loadBalancer.zoneAware.weightedZones as Envoy
// Gateway's buildWeightedZonalLocalities and buildLocalityLbConfig do
// (internal/xds/translator/cluster.go, case
// backendtrafficpolicy-with-weighted-zones): endpoints grouped into one
// locality per zone, each weighted by its zone's entry (1 for a zone not
// listed), and the load balancer told to honour locality weights. It
// returns nil when weightedZones is unset.
func weightedZones(c *ruleCtx, lb *egv1a1.LoadBalancer, t *clusterTemplate) *commonv3.LocalityLbConfig_LocalityWeightedLbConfig {
	if lb.ZoneAware == nil || len(lb.ZoneAware.WeightedZones) == 0 {
		return nil
	}
	const f = "spec.loadBalancer.zoneAware.weightedZones"
	if lb.ZoneAware.PreferLocal != nil {
		c.fail(f, nil, "cannot be used with zoneAware.preferLocal (the CRD allows one of them)")
	}
	w := make(map[string]uint32, len(lb.ZoneAware.WeightedZones))
	for _, z := range lb.ZoneAware.WeightedZones {
		if z.Zone == "" {
			c.fail(f+"[].zone", nil, "is required")
		}
		if _, dup := w[z.Zone]; dup {
			c.fail(f+"[].zone", z.Zone, "is listed twice (the list is keyed by zone)")
		}
		// Envoy refuses a locality weight of 0.
		if z.Weight < 1 {
			c.fail(f+"[].weight", z.Weight, "allowed 1 or more")
		}
		w[z.Zone] = z.Weight
	}
	t.zonal, t.zoneWeights = true, w
	return &commonv3.LocalityLbConfig_LocalityWeightedLbConfig{}
}
