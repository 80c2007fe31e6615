package filter

import (
	"math"
	"sync/atomic"

	"github.com/envoy-btp/envoy-btp/config"
)

// retry: the route's retry_policy, rendered from the same spec, tells the
// router how to retry. Per request the engine only withholds retries
// (x-envoy-max-retries: 0) from non-idempotent requests unless
// retry.allowNonIdempotent, and once the route's retry budget is spent. A
// request that may retry gets no header at all: repeating the route's
// policy in headers would cost four header writes per request for nothing.
// gRPC requests are exempt from the method rule: every call is a POST, so
// the method says nothing, and the policy's retryOn (gRPC status
// conditions) is the service owner's word that retrying is safe, as a gRPC
// retry policy's retryableStatusCodes are.

// idempotent methods (RFC 9110 9.2.2) may be retried safely.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func (s *Stream) retryHeaders(req Request, now int64) {
	r := s.cfg.c.Retry
	if r == nil {
		return
	}
	s.retryCounted = true
	s.cfg.budget.addRequest(now)
	if !r.AllowNonIdempotent && !idempotent(req.Method()) && !s.isGRPC(req) {
		req.SetHeader("x-envoy-max-retries", "0")
		s.cfg.inc(RetryNonIdempotent)
		return
	}
	if !s.cfg.budget.allow(now) {
		req.SetHeader("x-envoy-max-retries", "0")
		s.cfg.inc(RetryDenied)
		return
	}
	s.cfg.inc(RetryAllowed)
}

func (s *Stream) retryComplete(attempts int) {
	if !s.retryCounted || attempts <= 1 {
		return
	}
	s.cfg.budget.addRetries(s.cfg.opts.Now(), int64(attempts-1))
}

// retryBudget counts a route's requests and the retries Envoy made for
// them over a sliding window of budgetSlots one-second slots. Retries are
// allowed while retries < max(minRetryConcurrency, percent% of requests)
// in the window. Counting is lock-free and approximate at slot turnover
// (a few increments racing a slot reset may be lost).
type retryBudget struct {
	percent float64
	min     int64
	slots   [budgetSlots]budgetSlot
}

const (
	budgetSlots  = 10
	budgetSlotNs = int64(1e9)
)

type budgetSlot struct {
	epoch    atomic.Int64 // slot number (now/budgetSlotNs) + 1; 0 = never used
	requests atomic.Int64
	retries  atomic.Int64
}

func newRetryBudget(p *config.BudgetPlan) *retryBudget {
	if p == nil {
		p = &config.DefaultBudget
	}
	return &retryBudget{percent: p.Percent, min: int64(p.MinRetryConcurrency)}
}

func (b *retryBudget) slot(now int64) *budgetSlot {
	e := now/budgetSlotNs + 1
	sl := &b.slots[e%budgetSlots]
	if old := sl.epoch.Load(); old != e && sl.epoch.CompareAndSwap(old, e) {
		sl.requests.Store(0)
		sl.retries.Store(0)
	}
	return sl
}

func (b *retryBudget) addRequest(now int64)          { b.slot(now).requests.Add(1) }
func (b *retryBudget) addRetries(now int64, n int64) { b.slot(now).retries.Add(n) }

// totals sums the slots inside the window.
func (b *retryBudget) totals(now int64) (requests, retries int64) {
	e := now/budgetSlotNs + 1
	for i := range b.slots {
		sl := &b.slots[i]
		if se := sl.epoch.Load(); se > e-budgetSlots && se <= e {
			requests += sl.requests.Load()
			retries += sl.retries.Load()
		}
	}
	return requests, retries
}

func (b *retryBudget) allow(now int64) bool {
	requests, retries := b.totals(now)
	limit := int64(math.Floor(float64(requests) * b.percent / 100))
	return retries < max(limit, b.min)
}
