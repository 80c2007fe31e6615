package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RetryPlan is what the filter enforces of retry: it withholds retries from
// non-idempotent requests (unless AllowNonIdempotent). How the router retries (numRetries, retryOn, perRetry)
// is the route's retry_policy, rendered from the same spec; compileRetry
// still checks those fields, so a bad value fails at config load here too.
type RetryPlan struct {
	NumRetries         int
	AllowNonIdempotent bool
}

// DefaultNumRetries is Envoy Gateway's numRetries when retry sets none.
const DefaultNumRetries = 2

var httpTriggers = []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream", "retriable-status-codes"}
var grpcTriggers = []string{"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func compileRetry(r *Retry) (*RetryPlan, error) {
	plan := &RetryPlan{NumRetries: DefaultNumRetries, AllowNonIdempotent: r.AllowNonIdempotent == nil || *r.AllowNonIdempotent}
	if r.NumRetries != nil {
		if *r.NumRetries < 0 {
			return nil, fmt.Errorf("retry.numRetries: %d is negative: allowed 0 or more", *r.NumRetries)
		}
		plan.NumRetries = int(*r.NumRetries)
	}
	if on := r.RetryOn; on != nil {
		for i, c := range on.HTTPStatusCodes {
			if err := checkStatus(c, fmt.Sprintf("retry.retryOn.httpStatusCodes[%d]", i)); err != nil {
				return nil, err
			}
		}
		for i, t := range on.Triggers {
			if !contains(httpTriggers, t) && !contains(grpcTriggers, t) {
				return nil, fmt.Errorf("retry.retryOn.triggers[%d]: unknown trigger %q: allowed %s, %s", i, t, strings.Join(httpTriggers, ", "), strings.Join(grpcTriggers, ", "))
			}
		}
	}
	if pr := r.PerRetry; pr != nil {
		if pr.Timeout != nil {
			if _, err := ParseDuration(*pr.Timeout); err != nil {
				return nil, fmt.Errorf("retry.perRetry.timeout: %v", err)
			}
		}
		if b := pr.BackOff; b != nil {
			// Back-off is rendered into the route's retry_policy; the filter
			// only checks it so a typo fails here as well.
			var base, max time.Duration
			var err error
			if b.BaseInterval != nil {
				if base, err = ParseDuration(*b.BaseInterval); err != nil {
					return nil, fmt.Errorf("retry.perRetry.backOff.baseInterval: %v", err)
				}
			}
			if b.MaxInterval != nil {
				if max, err = ParseDuration(*b.MaxInterval); err != nil {
					return nil, fmt.Errorf("retry.perRetry.backOff.maxInterval: %v", err)
				}
				if b.BaseInterval != nil && max < base {
					return nil, fmt.Errorf("retry.perRetry.backOff.maxInterval: %q is below baseInterval %q", *b.MaxInterval, *b.BaseInterval)
				}
			}
		}
	}
	return plan, nil
}

// TimeoutPlan is timeout.http.requestTimeout as x-envoy-upstream-rq-timeout-ms.
type TimeoutPlan struct {
	RequestTimeout   time.Duration
	RequestTimeoutMS string // "" when unset
}

func compileTimeout(t *Timeout) (*TimeoutPlan, error) {
	plan := &TimeoutPlan{}
	if t.HTTP != nil && t.HTTP.RequestTimeout != nil {
		d, err := ParseDuration(*t.HTTP.RequestTimeout)
		if err != nil {
			return nil, fmt.Errorf("timeout.http.requestTimeout: %v", err)
		}
		plan.RequestTimeout = d
		plan.RequestTimeoutMS = strconv.FormatInt(d.Milliseconds(), 10)
	}
	return plan, nil
}

// compileBudget refuses retryBudget. It was the filter's own retry budget
// (an envoy-btp extension); the budget is now Envoy's alone, rendered from
// circuitBreaker.retryBudget on the cluster as Envoy Gateway does, so a
// refused retry shows in cluster.<name>.upstream_rq_retry_overflow. A
// hand-written config that still carries it is refused rather than
// silently run without the budget it asks for.
func compileBudget(b *RetryBudget) error {
	return fmt.Errorf("retryBudget: the filter no longer keeps a retry budget: set circuitBreaker.retryBudget in the BackendTrafficPolicy (Envoy's cluster circuit_breakers thresholds retry_budget) and remove retryBudget from the filter config")
}
