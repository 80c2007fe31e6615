package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// The filter's features written as BackendTrafficPolicies attached to
// HTTPRoute rules (sectionName), rendered by btp render: the per-route
// config the CLI emits is what the module enforces.
func TestRenderedFilterConfig(t *testing.T) {
	p := clusterProxy(t, nil)
	be := p.Backends[beFeatures]

	for _, tenant := range []string{"acme", "globex"} {
		for i := 1; i <= 3; i++ {
			code, h, _ := harness.Get(t, p.URL("/features/limited"), map[string]string{"x-tenant": tenant})
			want := http.StatusOK
			if i == 3 {
				want = http.StatusTooManyRequests
			}
			if code != want || h.Get("x-ratelimit-limit") != "2" {
				t.Errorf("%s request %d: %d x-ratelimit-limit %q, want %d and 2", tenant, i, code, h.Get("x-ratelimit-limit"), want)
			}
		}
	}
	if be.Hits() != 4 {
		t.Errorf("backend hits %d after rate limiting, want 4", be.Hits())
	}

	be.Reset()
	if code, _, body := harness.Get(t, p.URL("/features/aborted"), nil); code != http.StatusServiceUnavailable || body != "fault filter abort" {
		t.Errorf("abort: %d %q, want 503 %q", code, body, "fault filter abort")
	}
	if code, _, _ := post(t, p.URL("/features/buffered"), strings.Repeat("b", 1500), false); code != http.StatusRequestEntityTooLarge {
		t.Errorf("1500 B body: %d, want 413", code)
	}
	if be.Hits() != 0 {
		t.Errorf("backend hits %d, want 0 (abort and 413 stop at Envoy)", be.Hits())
	}
	if code, _, _ := post(t, p.URL("/features/buffered"), strings.Repeat("b", 500), true); code != http.StatusOK {
		t.Errorf("500 B body: %d, want 200", code)
	}
	if r := be.Requests(); len(r) != 1 || len(r[0].Body) != 500 {
		t.Errorf("backend did not get the 500 B body whole")
	}

	// A limit above Envoy's default 1 MiB buffer: the renderer raises the
	// route's buffer limit, so the filter's limit is the one that counts.
	be.Reset()
	if code, _, _ := post(t, p.URL("/features/bigbuffer"), strings.Repeat("b", 2<<20), true); code != http.StatusOK {
		t.Errorf("2 MiB body under a 4Mi limit: %d, want 200", code)
	}
	if r := be.Requests(); len(r) != 1 || len(r[0].Body) != 2<<20 {
		t.Errorf("backend did not get the 2 MiB body whole")
	}
	code, _, body := post(t, p.URL("/features/bigbuffer"), strings.Repeat("b", 5<<20), true)
	if code != http.StatusRequestEntityTooLarge || body != "request body too large\n" {
		t.Errorf("5 MiB body over a 4Mi limit: %d %q, want the filter's 413", code, body)
	}
}
