package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Local rate limits enforced by the module in Envoy: 429 after N with the
// x-ratelimit-* headers, one bucket per Distinct header value and per
// Distinct source address, and a sourceCIDR that does not match never
// limits.
func TestRateLimit(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[0]

	t.Run("429 after the limit, with headers", func(t *testing.T) {
		be.Reset()
		for i := 1; i <= 3; i++ {
			code, h, _ := harness.Get(t, p.URL("/ratelimit/plain"), nil)
			if code != http.StatusOK {
				t.Fatalf("request %d: status %d, want 200", i, code)
			}
			if got, want := h.Get("x-ratelimit-limit"), "3"; got != want {
				t.Errorf("request %d: x-ratelimit-limit %q, want %q", i, got, want)
			}
			if got, want := h.Get("x-ratelimit-remaining"), strconv.Itoa(3-i); got != want {
				t.Errorf("request %d: x-ratelimit-remaining %q, want %q", i, got, want)
			}
		}
		code, h, _ := harness.Get(t, p.URL("/ratelimit/plain"), nil)
		if code != http.StatusTooManyRequests {
			t.Fatalf("4th request: status %d, want 429", code)
		}
		if h.Get("x-ratelimit-limit") != "3" || h.Get("x-ratelimit-remaining") != "0" {
			t.Errorf("429 headers: limit %q remaining %q, want 3 and 0", h.Get("x-ratelimit-limit"), h.Get("x-ratelimit-remaining"))
		}
		if reset, err := strconv.Atoi(h.Get("x-ratelimit-reset")); err != nil || reset < 1 || reset > 60 {
			t.Errorf("429 x-ratelimit-reset %q, want 1..60 seconds", h.Get("x-ratelimit-reset"))
		}
		if be.Hits() != 3 {
			t.Errorf("backend hits %d, want 3 (the 429 must not reach it)", be.Hits())
		}
	})

	t.Run("Distinct header value has its own bucket", func(t *testing.T) {
		for _, user := range []string{"alice", "bob"} {
			for i := 1; i <= 2; i++ {
				if code, _, _ := harness.Get(t, p.URL("/ratelimit/distinct"), map[string]string{"x-user": user}); code != http.StatusOK {
					t.Fatalf("%s request %d: status %d, want 200", user, i, code)
				}
			}
			if code, _, _ := harness.Get(t, p.URL("/ratelimit/distinct"), map[string]string{"x-user": user}); code != http.StatusTooManyRequests {
				t.Fatalf("%s 3rd request: status %d, want 429", user, code)
			}
		}
		// No x-user header: the Distinct selector does not match, no limit.
		for i := 0; i < 4; i++ {
			if code, _, _ := harness.Get(t, p.URL("/ratelimit/distinct"), nil); code != http.StatusOK {
				t.Fatalf("request without x-user: status %d, want 200", code)
			}
		}
	})

	t.Run("Distinct source address has its own bucket", func(t *testing.T) {
		for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
			c := harness.ClientFrom(ip)
			for i := 1; i <= 3; i++ {
				req, _ := http.NewRequest(http.MethodGet, p.URL("/ratelimit/cidr"), nil)
				code, _, _ := harness.DoWith(t, c, req)
				want := http.StatusOK
				if i == 3 {
					want = http.StatusTooManyRequests
				}
				if code != want {
					t.Fatalf("from %s request %d: status %d, want %d", ip, i, code, want)
				}
			}
		}
	})

	t.Run("sourceCIDR that does not match never limits", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			if code, _, _ := harness.Get(t, p.URL("/ratelimit/othercidr"), nil); code != http.StatusOK {
				t.Fatalf("request %d: status %d, want 200 (client is 127.0.0.1, rule is 10.0.0.0/8)", i, code)
			}
		}
	})

	// 1 (plain) + 2 (alice, bob) + 2 (two source addresses).
	if got := p.Envoy.Stat(t, "btp.ratelimit.over_limit"); got != 5 {
		t.Errorf("btp.ratelimit.over_limit = %d, want 5", got)
	}
}
