package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// retry: a failing backend is retried numRetries times, a POST too (Envoy
// Gateway has no idempotency rule), and a circuitBreaker.retryBudget is
// Envoy's cluster budget: its refusals show in upstream_rq_retry_overflow.
func TestRetry(t *testing.T) {
	p := clusterProxy(t, nil)
	be := p.Backends[beRetry]
	be.SetStatus(http.StatusServiceUnavailable)

	t.Run("GET is retried numRetries times", func(t *testing.T) {
		be.Reset()
		code, h, _ := harness.Get(t, p.URL("/retry"), nil)
		if code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want the backend's 503 after the retries", code)
		}
		if be.Hits() != 3 {
			t.Errorf("backend hits %d, want 3 (1 + numRetries 2)", be.Hits())
		}
		// Envoy Gateway does not set include_attempt_count_in_response.
		if got := h.Get("x-envoy-attempt-count"); got != "" {
			t.Errorf("x-envoy-attempt-count %q, want none (Envoy Gateway does not ask for it)", got)
		}
	})

	t.Run("POST is retried like a GET, as under Envoy Gateway", func(t *testing.T) {
		be.Reset()
		req, _ := http.NewRequest(http.MethodPost, p.URL("/retry"), strings.NewReader("order"))
		if code, _, _ := harness.Do(t, req); code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", code)
		}
		if be.Hits() != 3 {
			t.Errorf("backend hits %d, want 3: Envoy Gateway renders no idempotency rule, the router retries a POST", be.Hits())
		}
	})

	t.Run("Envoy's retry budget refuses and counts", func(t *testing.T) {
		// /budget: numRetries 3 on 503, circuitBreaker.retryBudget percent
		// 0, minRetryConcurrency 1, rendered (as Envoy Gateway does,
		// internal/xds/translator/cluster.go buildCircuitBreakerRetryBudget)
		// as the cluster's thresholds.retry_budget. n concurrent requests
		// all fail after 100ms, so their retries overlap and Envoy allows
		// one retry at a time: the rest overflow. The refusal is Envoy's
		// and shows in its counter; the filter keeps no budget, so it lets
		// every GET through to the router.
		const n = 20
		be.Reset()
		be.SetDelay(100 * time.Millisecond)
		defer be.SetDelay(0)
		allowedBefore := p.Envoy.Stat(t, "btp.retry.allowed")
		var wg sync.WaitGroup
		codes := make([]int, n)
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, err := client.Get(p.URL("/budget")); err == nil {
					codes[i] = resp.StatusCode
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusServiceUnavailable {
				t.Errorf("request %d: status %d, want the backend's 503", i, c)
			}
		}
		overflow := p.Envoy.Stat(t, clusterStat("budget", "upstream_rq_retry_overflow"))
		retries := p.Envoy.Stat(t, clusterStat("budget", "upstream_rq_retry"))
		hits := be.Hits()
		t.Logf("%d failing requests -> %d attempts, %d retries, %d retry overflows", n, hits, retries, overflow)
		if overflow == 0 {
			t.Errorf("upstream_rq_retry_overflow = 0, want > 0: Envoy's retry budget never refused a retry")
		}
		if hits != n+retries {
			t.Errorf("backend hits %d, want %d requests + %d retries Envoy counted", hits, n, retries)
		}
		if hits >= n*4 {
			t.Errorf("backend hits %d: every retry was made (%d), the budget refused none", hits, n*4)
		}
		if got := p.Envoy.Stat(t, "btp.retry.allowed") - allowedBefore; got != n {
			t.Errorf("btp.retry.allowed grew by %d, want %d: the filter must leave every GET's retries to Envoy", got, n)
		}
		if _, ok := p.Envoy.Stats(t)["btp.retry.denied"]; ok {
			t.Errorf("btp.retry.denied is defined: the filter must not count retry refusals of its own")
		}
	})
	if got := p.Envoy.Stat(t, "btp.retry.non_idempotent"); got != 0 {
		t.Errorf("btp.retry.non_idempotent = %d, want 0 (nothing withheld without allowNonIdempotent: false)", got)
	}
}

// retry.perRetry.timeout: each attempt gets its own timeout, so a backend
// that hangs is tried 1 + numRetries times, 200ms each, and the client gets
// 504 long before the backend would answer.
func TestRetryPerTryTimeout(t *testing.T) {
	p := clusterProxy(t, nil)
	be := p.Backends[bePerTry]
	be.SetDelay(5 * time.Second)
	start := time.Now()
	code, _, _ := harness.Get(t, p.URL("/pertry"), nil)
	took := time.Since(start)
	if code != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", code)
	}
	if be.Hits() != 3 {
		t.Errorf("backend hits %d, want 3 (each try timed out and was retried)", be.Hits())
	}
	if took < 600*time.Millisecond || took > 3*time.Second {
		t.Errorf("answered after %v, want about 3 x 200ms", took)
	}
}

// retry.allowNonIdempotent: false (an envoy-btp extension, hand-written
// config; Envoy Gateway has no such rule and btp render never sets it): the
// filter withholds the router's retries from a POST.
func TestRetryPostWithheldWhenAsked(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[2]
	be.SetStatus(http.StatusServiceUnavailable)
	req, _ := http.NewRequest(http.MethodPost, p.URL("/retry/post-withheld"), strings.NewReader("not idempotent"))
	if code, _, _ := harness.Do(t, req); code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", code)
	}
	if be.Hits() != 1 {
		t.Errorf("backend hits %d, want 1 (the POST's retries withheld)", be.Hits())
	}
	if got := p.Envoy.Stat(t, "btp.retry.non_idempotent"); got != 1 {
		t.Errorf("btp.retry.non_idempotent = %d, want 1", got)
	}
}
