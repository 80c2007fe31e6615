package bootstrap

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// circuitBreakerCluster renders spec.circuitBreaker as circuit_breakers
// (Envoy Gateway always sets thresholds, with max_retries 1024 by default);
// maxRequestsPerConnection is an HTTP protocol option.
func circuitBreakerCluster(c *ruleCtx, t *clusterTemplate) {
	th := &clusterv3.CircuitBreakers_Thresholds{
		Priority:   corev3.RoutingPriority_DEFAULT,
		MaxRetries: u32(defaultMaxParallelRetries),
	}
	t.cluster.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
	cb := c.spec.CircuitBreaker
	if cb == nil {
		return
	}
	const f = "spec.circuitBreaker"
	set := func(field string, v *int64, dst **wrapperspb.UInt32Value) {
		if v == nil {
			return
		}
		if n, ok := c.count(f+"."+field, *v); ok {
			*dst = u32(n)
		}
	}
	set("maxConnections", cb.MaxConnections, &th.MaxConnections)
	set("maxPendingRequests", cb.MaxPendingRequests, &th.MaxPendingRequests)
	set("maxParallelRequests", cb.MaxParallelRequests, &th.MaxRequests)
	set("maxParallelRetries", cb.MaxParallelRetries, &th.MaxRetries)
	if v := cb.MaxRequestsPerConnection; v != nil {
		if n, ok := c.count(f+".maxRequestsPerConnection", *v); ok {
			t.common().MaxRequestsPerConnection = u32(n)
		}
	}
	if pe := cb.PerEndpoint; pe != nil && pe.MaxConnections != nil {
		if n, ok := c.count(f+".perEndpoint.maxConnections", *pe.MaxConnections); ok {
			t.cluster.CircuitBreakers.PerHostThresholds = []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: u32(n)}}
		}
	}
	if rb := cb.RetryBudget; rb != nil {
		pct, ok := fractionPercent(c, f+".retryBudget.percent", &rb.Percent)
		if !ok {
			return
		}
		b := &clusterv3.CircuitBreakers_Thresholds_RetryBudget{BudgetPercent: &typev3.Percent{Value: pct}}
		if rb.MinRetryConcurrency != nil {
			b.MinRetryConcurrency = u32(*rb.MinRetryConcurrency)
		}
		th.RetryBudget = b
	}
}

// fractionPercent turns a Gateway API fraction (denominator default 100)
// into a 0-100 percentage.
func fractionPercent(c *ruleCtx, field string, fr *gwapiv1.Fraction) (float64, bool) {
	den := int32(100)
	if fr.Denominator != nil {
		den = *fr.Denominator
	}
	if den <= 0 || fr.Numerator < 0 || fr.Numerator > den {
		c.failf(field, nil, "numerator %d / denominator %d: allowed 0 <= numerator <= denominator, denominator > 0", fr.Numerator, den)
		return 0, false
	}
	return float64(fr.Numerator) * 100 / float64(den), true
}
