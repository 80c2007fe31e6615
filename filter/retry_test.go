package filter

import (
	"testing"
)

func TestRetryHeaders(t *testing.T) {
	cases := []struct {
		name    string
		cfg     string
		method  string
		headers []string          // request headers, name value ...
		want    map[string]string // headers set; absent key = must not be set
		stat    Counter
	}{
		{
			// The route's retry_policy governs: nothing to tell the router.
			name: "defaults (Envoy Gateway's)", cfg: `{"retry":{}}`, method: "GET",
			want: map[string]string{},
			stat: RetryAllowed,
		},
		{
			name: "configured", method: "PUT",
			cfg: `{"retry":{"numRetries":5,"retryOn":{"triggers":["5xx","reset"],"httpStatusCodes":[502,504]},"perRetry":{"timeout":"250ms","backOff":{"baseInterval":"100ms","maxInterval":"1s"}}},
			       "timeout":{"http":{"requestTimeout":"1m30s"}}}`,
			want: map[string]string{"x-envoy-upstream-rq-timeout-ms": "90000"},
			stat: RetryAllowed,
		},
		{
			name: "POST is not retried", cfg: `{"retry":{"numRetries":3}}`, method: "POST",
			want: map[string]string{"x-envoy-max-retries": "0"},
			stat: RetryNonIdempotent,
		},
		{
			name: "PATCH is not retried", cfg: `{"retry":{"numRetries":3}}`, method: "PATCH",
			want: map[string]string{"x-envoy-max-retries": "0"},
			stat: RetryNonIdempotent,
		},
		{
			name: "POST allowed when configured", cfg: `{"retry":{"numRetries":3,"allowNonIdempotent":true,"retryOn":{"triggers":["connect-failure"]}}}`, method: "POST",
			want: map[string]string{},
			stat: RetryAllowed,
		},
		{
			name: "gRPC (always POST) is retried", cfg: `{"retry":{"numRetries":3,"retryOn":{"triggers":["unavailable","resource-exhausted"]}}}`, method: "POST",
			headers: []string{"content-type", "application/grpc"},
			want:    map[string]string{}, // not withheld: the route's retry_policy governs
			stat:    RetryAllowed,
		},
		{
			name: "gRPC-Web is not gRPC here", cfg: `{"retry":{"numRetries":3}}`, method: "POST",
			headers: []string{"content-type", "application/grpc-web"},
			want:    map[string]string{"x-envoy-max-retries": "0"},
			stat:    RetryNonIdempotent,
		},
		{
			name: "timeout only", cfg: `{"timeout":{"http":{"requestTimeout":"2s"}}}`, method: "POST",
			want: map[string]string{"x-envoy-upstream-rq-timeout-ms": "2000"},
			stat: NumCounters,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			c := mustConfig(t, tc.cfg, e.opts())
			req := newReq(tc.method, "/", tc.headers...)
			wantKind(t, "headers", c.NewStream().OnRequestHeaders(req, true), Continue)
			if len(req.set) != len(tc.want) {
				t.Fatalf("set %v, want %v", req.set, tc.want)
			}
			for k, v := range tc.want {
				if req.set[k] != v {
					t.Fatalf("%s = %q, want %q (all: %v)", k, req.set[k], v, req.set)
				}
			}
			for c := Counter(0); c < NumCounters; c++ {
				want := int64(0)
				if c == tc.stat {
					want = 1
				}
				if c >= RetryAllowed && c <= RetryNonIdempotent && e.stats.get(c) != want {
					t.Fatalf("%s = %d, want %d", c.Name(), e.stats.get(c), want)
				}
			}
		})
	}
}

// TestRetryBudget drives a route through an outage: every request needs
// retries. With a 20% budget the retries Envoy reports are allowed until
// they reach 20% of the requests in the window, then withheld.
func TestRetryBudget(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"retry":{"numRetries":2},"retryBudget":{"percent":20,"minRetryConcurrency":1}}`, e.opts())
	allowed := 0
	for i := 0; i < 100; i++ {
		req := newReq("GET", "/")
		s := c.NewStream()
		s.OnRequestHeaders(req, true)
		attempts := 1
		if v, withheld := req.set["x-envoy-max-retries"]; !withheld {
			allowed++
			attempts = 3 // the router used both retries
		} else if v != "0" {
			t.Fatalf("max retries %q", v)
		}
		s.OnResponseHeaders(503, newResp("x-envoy-attempt-count", "999")) // OnStreamComplete's count wins
		s.OnStreamComplete(attempts)
	}
	_, retries := c.budget.totals(e.clock.now())
	// Each allowed request adds 2 retries; the budget stops allowing once
	// retries >= 20% of requests, so retries end within one request's worth
	// (2) of 20% of 100.
	if retries < 20 || retries > 22 {
		t.Fatalf("retries in window %d (allowed requests %d), want 20..22", retries, allowed)
	}
	if e.stats.get(RetryDenied) != int64(100-allowed) || e.stats.get(RetryAllowed) != int64(allowed) {
		t.Fatalf("allowed=%d denied=%d stats allowed=%d", allowed, e.stats.get(RetryDenied), e.stats.get(RetryAllowed))
	}
	// The window slides: after it passes, retries are allowed again.
	e.clock.advance(11e9)
	req := newReq("GET", "/")
	c.NewStream().OnRequestHeaders(req, true)
	if v, withheld := req.set["x-envoy-max-retries"]; withheld {
		t.Fatalf("after the window: max retries %q, want the route's (no header)", v)
	}
}

func TestRetryBudgetFromResponseHeader(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"retry":{},"retryBudget":{"percent":0,"minRetryConcurrency":2}}`, e.opts())
	s := c.NewStream()
	s.OnRequestHeaders(newReq("GET", "/"), true)
	s.OnResponseHeaders(200, newResp("x-envoy-attempt-count", "3"))
	s.OnStreamComplete(0) // host cannot tell: the header's count is used
	if _, r := c.budget.totals(e.clock.now()); r != 2 {
		t.Fatalf("retries %d, want 2", r)
	}
	req := newReq("GET", "/")
	c.NewStream().OnRequestHeaders(req, true)
	if req.set["x-envoy-max-retries"] != "0" {
		t.Fatalf("budget spent (2 of min 2) but max retries %q", req.set["x-envoy-max-retries"])
	}
}

func TestRetryBudgetDefaultIs20Percent(t *testing.T) {
	c := mustConfig(t, `{"retry":{}}`, newEnv().opts())
	if c.budget.percent != 20 || c.budget.min != 3 {
		t.Fatalf("default budget %v%% min %d", c.budget.percent, c.budget.min)
	}
}

func TestHostReportsAttemptsSkipsHeader(t *testing.T) {
	e := newEnv()
	o := e.opts()
	o.HostReportsAttempts = true
	c := mustConfig(t, `{"retry":{}}`, o)
	s := c.NewStream()
	s.OnRequestHeaders(newReq("GET", "/"), true)
	s.OnResponseHeaders(200, newResp("x-envoy-attempt-count", "3"))
	s.OnStreamComplete(2)
	if _, r := c.budget.totals(e.clock.now()); r != 1 {
		t.Fatalf("retries %d, want 1 (from the host, not the header)", r)
	}
}
