package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RetryPlan is retry, pre-formatted as the router's request headers.
type RetryPlan struct {
	NumRetries         int
	MaxRetries         string // x-envoy-max-retries
	RetryOn            string // x-envoy-retry-on ("" = not sent)
	GRPCRetryOn        string // x-envoy-retry-grpc-on ("" = not sent)
	StatusCodes        string // x-envoy-retriable-status-codes ("" = not sent)
	PerTryTimeoutMS    string // x-envoy-upstream-rq-per-try-timeout-ms ("" = not sent)
	AllowNonIdempotent bool
}

// Envoy Gateway's defaults when retry is set without retryOn / numRetries.
const (
	DefaultNumRetries = 2
	defaultRetryOn    = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)

var httpTriggers = []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream", "retriable-status-codes"}
var grpcTriggers = []string{"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func compileRetry(r *Retry) (*RetryPlan, error) {
	plan := &RetryPlan{NumRetries: DefaultNumRetries, AllowNonIdempotent: isTrue(r.AllowNonIdempotent)}
	if r.NumRetries != nil {
		if *r.NumRetries < 0 {
			return nil, fmt.Errorf("retry.numRetries: %d is negative: allowed 0 or more", *r.NumRetries)
		}
		plan.NumRetries = int(*r.NumRetries)
	}
	plan.MaxRetries = strconv.Itoa(plan.NumRetries)
	triggers := strings.Split(defaultRetryOn, ",")
	codes := []int{503}
	if on := r.RetryOn; on != nil {
		triggers, codes = on.Triggers, on.HTTPStatusCodes
		for i, c := range codes {
			if err := checkStatus(c, fmt.Sprintf("retry.retryOn.httpStatusCodes[%d]", i)); err != nil {
				return nil, err
			}
		}
		if len(codes) > 0 && !contains(triggers, "retriable-status-codes") {
			triggers = append(append([]string(nil), triggers...), "retriable-status-codes")
		}
	}
	var httpOn, grpcOn []string
	for i, t := range triggers {
		switch {
		case contains(httpTriggers, t):
			httpOn = append(httpOn, t)
		case contains(grpcTriggers, t):
			grpcOn = append(grpcOn, t)
		default:
			return nil, fmt.Errorf("retry.retryOn.triggers[%d]: unknown trigger %q: allowed %s, %s", i, t, strings.Join(httpTriggers, ", "), strings.Join(grpcTriggers, ", "))
		}
	}
	plan.RetryOn = strings.Join(httpOn, ",")
	plan.GRPCRetryOn = strings.Join(grpcOn, ",")
	cs := make([]string, len(codes))
	for i, c := range codes {
		cs[i] = strconv.Itoa(c)
	}
	plan.StatusCodes = strings.Join(cs, ",")
	if pr := r.PerRetry; pr != nil {
		if pr.Timeout != nil {
			d, err := ParseDuration(*pr.Timeout)
			if err != nil {
				return nil, fmt.Errorf("retry.perRetry.timeout: %v", err)
			}
			plan.PerTryTimeoutMS = strconv.FormatInt(d.Milliseconds(), 10)
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

// BudgetPlan is retryBudget.
type BudgetPlan struct {
	Percent             float64
	MinRetryConcurrency uint32
}

// DefaultBudget applies when a route has retry but no retryBudget.
var DefaultBudget = BudgetPlan{Percent: 20, MinRetryConcurrency: 3}

func compileBudget(b *RetryBudget) (*BudgetPlan, error) {
	plan := DefaultBudget
	if b.Percent != nil {
		if math.IsNaN(*b.Percent) || *b.Percent < 0 || *b.Percent > 100 {
			return nil, fmt.Errorf("retryBudget.percent: %v out of range: allowed 0 to 100", *b.Percent)
		}
		plan.Percent = *b.Percent
	}
	if b.MinRetryConcurrency != nil {
		plan.MinRetryConcurrency = *b.MinRetryConcurrency
	}
	return &plan, nil
}
