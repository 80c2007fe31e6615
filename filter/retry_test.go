package filter

import (
	"strings"
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
			name: "POST is not retried when allowNonIdempotent is false", cfg: `{"retry":{"numRetries":3,"allowNonIdempotent":false}}`, method: "POST",
			want: map[string]string{"x-envoy-max-retries": "0"},
			stat: RetryNonIdempotent,
		},
		{
			name: "PATCH is not retried when allowNonIdempotent is false", cfg: `{"retry":{"numRetries":3,"allowNonIdempotent":false}}`, method: "PATCH",
			want: map[string]string{"x-envoy-max-retries": "0"},
			stat: RetryNonIdempotent,
		},
		{
			name: "POST retried by default, as under Envoy Gateway", cfg: `{"retry":{"numRetries":3,"retryOn":{"triggers":["connect-failure"]}}}`, method: "POST",
			want: map[string]string{},
			stat: RetryAllowed,
		},
		{
			name: "gRPC (always POST) is retried", cfg: `{"retry":{"numRetries":3,"allowNonIdempotent":false,"retryOn":{"triggers":["unavailable","resource-exhausted"]}}}`, method: "POST",
			headers: []string{"content-type", "application/grpc"},
			want:    map[string]string{}, // not withheld: the route's retry_policy governs
			stat:    RetryAllowed,
		},
		{
			name: "gRPC-Web is not gRPC here", cfg: `{"retry":{"numRetries":3,"allowNonIdempotent":false}}`, method: "POST",
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

// TestNoFilterRetryBudget: through an outage (every request retried to
// numRetries) the filter never withholds a retry from an idempotent
// request: the retry budget is Envoy's cluster budget alone, so a refusal
// is Envoy's to make and count (upstream_rq_retry_overflow). Before, a
// default 20% budget the user never configured withheld most of these.
func TestNoFilterRetryBudget(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"retry":{"numRetries":2}}`, e.opts())
	for i := 0; i < 100; i++ {
		req := newReq("GET", "/")
		s := c.NewStream()
		s.OnRequestHeaders(req, true)
		if v, set := req.set["x-envoy-max-retries"]; set {
			t.Fatalf("request %d: x-envoy-max-retries %q: the filter withheld a retry", i, v)
		}
		if l := s.Later(); l != 0 {
			t.Fatalf("request %d: Later %b after the request headers: a retry route needs no later callback", i, l)
		}
		s.OnResponseHeaders(503, newResp("x-envoy-attempt-count", "3"))
		s.OnStreamComplete(3)
	}
	if got := e.stats.get(RetryAllowed); got != 100 {
		t.Fatalf("btp.retry.allowed %d, want 100", got)
	}
}

// TestRetryBudgetFieldRefused: a hand-written config that still carries
// the old filter retryBudget fails at load, naming the field and where the
// budget belongs now, rather than running silently without it.
func TestRetryBudgetFieldRefused(t *testing.T) {
	_, err := ParseJSON([]byte(`{"retry":{},"retryBudget":{"percent":20}}`), newEnv().opts())
	if err == nil || !strings.Contains(err.Error(), "retryBudget") || !strings.Contains(err.Error(), "circuitBreaker.retryBudget") {
		t.Fatalf("err %v, want a retryBudget error pointing at circuitBreaker.retryBudget", err)
	}
}
