package filter

// retry: the route's retry_policy, rendered from the same spec, tells the
// router how to retry, and a circuitBreaker.retryBudget is Envoy's own
// cluster retry budget (thresholds.retry_budget), as under Envoy Gateway
// (internal/xds/translator/cluster.go, buildCircuitBreakerRetryBudget): a
// retry it refuses shows in cluster.<name>.upstream_rq_retry_overflow. The
// engine keeps no budget of its own, so it never refuses a retry before
// Envoy's budget can count it. Per request it only withholds retries
// (x-envoy-max-retries: 0) from non-idempotent requests when a hand-written
// config sets retry.allowNonIdempotent: false (an envoy-btp rule; by
// default, as under Envoy Gateway, the router retries any method). A request that may retry gets no header at
// all: repeating the route's policy in headers would cost four header
// writes per request for nothing. gRPC requests are exempt from the method
// rule: every call is a POST, so the method says nothing, and the policy's
// retryOn (gRPC status conditions) is the service owner's word that
// retrying is safe, as a gRPC retry policy's retryableStatusCodes are.

// idempotent methods (RFC 9110 9.2.2) may be retried safely.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func (s *Stream) retryHeaders(req Request) {
	r := s.cfg.c.Retry
	if r == nil {
		return
	}
	if !r.AllowNonIdempotent && !idempotent(req.Method()) && !s.isGRPC(req) {
		req.SetHeader("x-envoy-max-retries", "0")
		s.cfg.inc(RetryNonIdempotent)
		return
	}
	s.cfg.inc(RetryAllowed)
}
