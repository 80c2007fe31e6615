package e2e

import (
	"net/http"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Local rate limit xRateLimitHeaders through a real Envoy, as Envoy Gateway
// v1.9.1 renders it (the rule without clientSelectors decides for the whole
// route: internal/gatewayapi/backendtrafficpolicy.go buildLocalRateLimit,
// internal/xds/translator/local_ratelimit.go enable_x_ratelimit_headers):
// /quiet (Off) sends no x-ratelimit-* on a 200 nor on its descriptor rule's
// 429, though that rule says DraftVersion03; /loud sends them on both.
func TestLocalRateLimitHeadersOff(t *testing.T) {
	app := harness.StartBackend(t, "app")
	v := harness.NewVars(t, []*harness.Backend{app})
	boot := harness.Render(t, harness.Execute(t, "testdata/ratelimit-headers.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}

	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, p.URL(path), nil)
		req.Header.Set("x-user", "eve")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		path    string
		headers bool
	}{{"/quiet", false}, {"/loud", true}} {
		for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
			resp := get(c.path)
			if resp.StatusCode != want {
				t.Fatalf("%s request %d: status %d, want %d", c.path, i+1, resp.StatusCode, want)
			}
			for _, h := range []string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} {
				if _, got := resp.Header[http.CanonicalHeaderKey(h)]; got != c.headers {
					t.Errorf("%s request %d (%d): %s present %v, want %v", c.path, i+1, resp.StatusCode, h, got, c.headers)
				}
			}
		}
	}
}
