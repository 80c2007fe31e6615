package bootstrap

import (
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
)

// Envoy Gateway's retry defaults.
const (
	defaultRetryOn          = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	defaultRetriableStatus  = 503
	defaultNumRetries       = 2
	retryHostSelectAttempts = 5
)

var retryTriggers = map[egv1a1.TriggerEnum]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true, "cancelled": true,
	"deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

// retryRoute renders spec.retry as the route's retry_policy (retrying on a
// different host, as Envoy Gateway does). Like Envoy Gateway it does not ask
// the virtual host for x-envoy-attempt-count: nothing reads it.
func retryRoute(c *ruleCtx) {
	rr := c.spec.Retry
	if rr == nil {
		return
	}
	const f = "spec.retry"
	rp := &routev3.RetryPolicy{
		RetryOn:              defaultRetryOn,
		RetriableStatusCodes: []uint32{defaultRetriableStatus},
		NumRetries:           u32(defaultNumRetries),
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: retryHostSelectAttempts,
	}
	if rr.NumRetries != nil {
		if *rr.NumRetries < 0 {
			c.fail(f+".numRetries", *rr.NumRetries, "allowed 0 or more")
		}
		rp.NumRetries = u32(uint32(*rr.NumRetries))
	}
	if n := rr.NumAttemptsPerPriority; n != nil && *n > 0 {
		rp.RetryPriority = &routev3.RetryPolicy_RetryPriority{
			Name: "envoy.retry_priorities.previous_priorities",
			ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: mustAny(
				&previousprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: *n})},
		}
	} else if n != nil && *n < 0 {
		c.fail(f+".numAttemptsPerPriority", *n, "allowed 0 or more")
	}
	if on := rr.RetryOn; on != nil {
		if len(on.Triggers) > 0 {
			ts := make([]string, 0, len(on.Triggers))
			for _, t := range on.Triggers {
				if !retryTriggers[t] {
					c.fail(f+".retryOn.triggers", string(t), "allowed 5xx, gateway-error, reset, reset-before-request, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable")
				}
				ts = append(ts, string(t))
			}
			rp.RetryOn = strings.Join(ts, ",")
		}
		rp.RetriableStatusCodes = nil
		for _, s := range on.HTTPStatusCodes {
			if s < 100 || s > 599 {
				c.fail(f+".retryOn.httpStatusCodes", int(s), "allowed status codes 100-599")
			}
			rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(s))
		}
	}
	if pr := rr.PerRetry; pr != nil {
		if pr.Timeout != nil {
			rp.PerTryTimeout, _ = c.duration(f+".perRetry.timeout", pr.Timeout)
		}
		if bo := pr.BackOff; bo != nil && (bo.BaseInterval != nil || bo.MaxInterval != nil) {
			b := &routev3.RetryPolicy_RetryBackOff{}
			if bo.BaseInterval != nil {
				b.BaseInterval, _ = c.duration(f+".perRetry.backOff.baseInterval", bo.BaseInterval)
			}
			if bo.MaxInterval != nil {
				b.MaxInterval, _ = c.duration(f+".perRetry.backOff.maxInterval", bo.MaxInterval)
			}
			if b.BaseInterval == nil {
				c.fail(f+".perRetry.backOff.baseInterval", nil, "is required when backOff is set")
			} else if b.MaxInterval != nil && b.MaxInterval.AsDuration() < b.BaseInterval.AsDuration() {
				c.fail(f+".perRetry.backOff.maxInterval", string(*bo.MaxInterval), "allowed a duration no shorter than baseInterval")
			}
			rp.RetryBackOff = b
		}
	}
	c.action.RetryPolicy = rp
}
