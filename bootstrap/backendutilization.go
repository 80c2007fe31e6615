package bootstrap

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	cswrrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	wrrlocalityv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// backendUtilizationPolicy renders loadBalancer type BackendUtilization as
// Envoy Gateway's buildBackendUtilizationLoadBalancingPolicy
// (internal/xds/translator/cluster.go, cases
// backendtrafficpolicy-with-backend-utilization-*): Envoy's client-side
// weighted round robin, weighing endpoints by the ORCA load reports they
// send (in responses, or out of band when outOfBand is set). With
// weightedZones it is wrapped in wrr_locality, as CSWRR has no locality
// setting of its own. Zero durations are left to Envoy's defaults, as
// Envoy Gateway leaves them.
func backendUtilizationPolicy(c *ruleCtx, lb *egv1a1.LoadBalancer, slow *commonv3.SlowStartConfig, weighted bool) *clusterv3.LoadBalancingPolicy {
	const f = "spec.loadBalancer.backendUtilization"
	cfg := &cswrrv3.ClientSideWeightedRoundRobin{SlowStartConfig: slow}
	positive := func(d *durationpb.Duration) *durationpb.Duration {
		if d != nil && d.AsDuration() > 0 {
			return d
		}
		return nil
	}
	if bu := lb.BackendUtilization; bu != nil {
		if bu.BlackoutPeriod != nil {
			if d, ok := c.duration(f+".blackoutPeriod", bu.BlackoutPeriod); ok {
				cfg.BlackoutPeriod = positive(d)
			}
		}
		if bu.WeightExpirationPeriod != nil {
			if d, ok := c.duration(f+".weightExpirationPeriod", bu.WeightExpirationPeriod); ok {
				cfg.WeightExpirationPeriod = positive(d)
			}
		}
		if bu.WeightUpdatePeriod != nil {
			if d, ok := c.duration(f+".weightUpdatePeriod", bu.WeightUpdatePeriod); ok {
				cfg.WeightUpdatePeriod = positive(d)
			}
		}
		if v := bu.ErrorUtilizationPenaltyPercent; v != nil {
			cfg.ErrorUtilizationPenalty = wrapperspb.Float(float32(*v) / 100)
		}
		cfg.MetricNamesForComputingUtilization = append([]string(nil), bu.MetricNamesForComputingUtilization...)
		if oob := bu.OutOfBand; oob != nil {
			cfg.EnableOobLoadReport = wrapperspb.Bool(true)
			if oob.ReportingPeriod != nil {
				if d, ok := c.duration(f+".outOfBand.reportingPeriod", oob.ReportingPeriod); ok {
					cfg.OobReportingPeriod = d
				}
			}
			if oob.Port != nil || oob.Authority != nil {
				rc := &commonv3.OrcaOobReportingConfig{}
				if oob.Port != nil {
					if *oob.Port < 1 || *oob.Port > 65535 {
						c.fail(f+".outOfBand.port", *oob.Port, "allowed 1-65535")
					}
					rc.PortValue = uint32(*oob.Port)
				}
				if oob.Authority != nil {
					rc.Authority = *oob.Authority
				}
				cfg.OobReportingConfig = rc
			}
		}
	}
	p := lbPolicy("envoy.load_balancing_policies.client_side_weighted_round_robin", cfg)
	if !weighted {
		return p
	}
	return lbPolicy("envoy.load_balancing_policies.wrr_locality", &wrrlocalityv3.WrrLocality{EndpointPickingPolicy: p})
}

// backendUtilizationRoute drops the ORCA load report headers from the
// response unless keepResponseHeaders, as Envoy Gateway does
// (internal/gatewayapi/backendtrafficpolicy.go): they are for Envoy, not
// the client.
func backendUtilizationRoute(c *ruleCtx) {
	lb := c.spec.LoadBalancer
	if lb == nil || lb.Type != egv1a1.BackendUtilizationLoadBalancerType {
		return
	}
	if bu := lb.BackendUtilization; bu != nil && bu.KeepResponseHeaders != nil && *bu.KeepResponseHeaders {
		return
	}
	for _, h := range []string{"endpoint-load-metrics", "endpoint-load-metrics-bin"} {
		if !inList(c.route.ResponseHeadersToRemove, h) {
			c.route.ResponseHeadersToRemove = append(c.route.ResponseHeadersToRemove, h)
		}
	}
}

func inList(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
