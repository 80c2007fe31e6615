package bootstrap

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// outlierCluster renders spec.healthCheck.passive as outlier_detection
// (Envoy Gateway's defaults: interval 3s, base ejection 30s) and
// spec.healthCheck.panicThreshold as healthy_panic_threshold.
func outlierCluster(c *ruleCtx, t *clusterTemplate) {
	hc := c.spec.HealthCheck
	if hc == nil {
		return
	}
	if hc.PanicThreshold != nil {
		if v, ok := c.percent("spec.healthCheck.panicThreshold", int64(*hc.PanicThreshold)); ok {
			t.cluster.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: v}}
		}
	}
	p := hc.Passive
	if p == nil {
		return
	}
	const f = "spec.healthCheck.passive"
	od := &clusterv3.OutlierDetection{
		Interval:         durationpb.New(3 * time.Second),
		BaseEjectionTime: durationpb.New(30 * time.Second),
	}
	c.setDuration(f+".interval", p.Interval, &od.Interval)
	c.setDuration(f+".baseEjectionTime", p.BaseEjectionTime, &od.BaseEjectionTime)
	if p.SplitExternalLocalOriginErrors != nil {
		od.SplitExternalLocalOriginErrors = *p.SplitExternalLocalOriginErrors
	}
	if p.ConsecutiveLocalOriginFailures != nil {
		od.ConsecutiveLocalOriginFailure = u32(*p.ConsecutiveLocalOriginFailures)
	}
	if p.Consecutive5xxErrors != nil {
		od.Consecutive_5Xx = u32(*p.Consecutive5xxErrors)
	}
	if p.ConsecutiveGatewayErrors != nil {
		od.ConsecutiveGatewayFailure = u32(*p.ConsecutiveGatewayErrors)
		od.EnforcingConsecutiveGatewayFailure = u32(100)
	}
	if p.MaxEjectionPercent != nil {
		if v, ok := c.percent(f+".maxEjectionPercent", int64(*p.MaxEjectionPercent)); ok {
			od.MaxEjectionPercent = u32(uint32(v))
		}
	}
	if p.FailurePercentageThreshold != nil {
		if v, ok := c.percent(f+".failurePercentageThreshold", int64(*p.FailurePercentageThreshold)); ok {
			od.FailurePercentageThreshold = u32(uint32(v))
			od.EnforcingFailurePercentage = u32(100)
		}
	}
	if p.AlwaysEjectOneEndpoint != nil {
		od.AlwaysEjectOneHost = wrapperspb.Bool(*p.AlwaysEjectOneEndpoint)
	}
	t.cluster.OutlierDetection = od
}
