package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// retry: a failing backend is retried numRetries times for an idempotent
// request, a POST is not retried, and the retry budget stops a retry storm
// when every request fails.
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
		if got := h.Get("x-envoy-attempt-count"); got != "3" {
			t.Errorf("x-envoy-attempt-count %q, want 3", got)
		}
	})

	t.Run("POST is not retried", func(t *testing.T) {
		be.Reset()
		req, _ := http.NewRequest(http.MethodPost, p.URL("/retry"), strings.NewReader("order"))
		if code, _, _ := harness.Do(t, req); code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", code)
		}
		if be.Hits() != 1 {
			t.Errorf("backend hits %d, want 1: a POST must not be retried", be.Hits())
		}
	})

	t.Run("budget stops a retry storm", func(t *testing.T) {
		// Every request fails. Unbudgeted, 30 requests would make 90
		// attempts. The default budget lets retries add at most 20% of the
		// route's requests (at least 3 retries): 30 requests allow 6.
		// (/budget has its own budget: /retry's requests do not count.)
		const n = 30
		be.Reset()
		for i := 0; i < n; i++ {
			harness.Get(t, p.URL("/budget"), nil)
		}
		hits := be.Hits()
		if hits > n+6+2 || hits < n+2 {
			t.Errorf("%d requests made %d backend attempts; want between %d and %d (budget 20%%, min 3 retries)", n, hits, n+2, n+6+2)
		}
		t.Logf("%d failing requests -> %d attempts", n, hits)
		if got := p.Envoy.Stat(t, "btp.retry.denied"); got == 0 {
			t.Errorf("btp.retry.denied = 0, want > 0")
		}
	})
	if got := p.Envoy.Stat(t, "btp.retry.non_idempotent"); got != 1 {
		t.Errorf("btp.retry.non_idempotent = %d, want 1", got)
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

// retry.allowNonIdempotent (an envoy-btp extension, hand-written config):
// the filter lets the router retry a POST.
func TestRetryPostWhenAllowed(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[2]
	be.SetStatus(http.StatusServiceUnavailable)
	req, _ := http.NewRequest(http.MethodPost, p.URL("/retry/post-allowed"), strings.NewReader("idempotent by contract"))
	if code, _, _ := harness.Do(t, req); code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 after the retries", code)
	}
	if be.Hits() != 3 {
		t.Errorf("backend hits %d, want 3 (POST retried twice when allowed)", be.Hits())
	}
	if got := p.Envoy.Stat(t, "btp.retry.allowed"); got != 1 {
		t.Errorf("btp.retry.allowed = %d, want 1", got)
	}
}
