package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Envoy Gateway's own local rate limit e2e case, request for request:
// test/e2e/tests/local_ratelimit.go (the "withHeader" runs, on the
// same-namespace Gateway) against its manifest testdata/local-ratelimit.yaml,
// rendered by btp. Envoy Gateway makes the rule without clientSelectors the
// route's default bucket and every other rule a descriptor
// (internal/xds/translator/local_ratelimit.go); a request matching a
// descriptor is limited by it and leaves the default bucket alone.
func TestEnvoyGatewayLocalRateLimit(t *testing.T) {
	p := egProxy(t, "local-ratelimit.yaml")
	type want struct {
		code                    int
		limit, remaining, reset string // "" = not checked; "absent" = no header
	}
	send := func(t *testing.T, method, path string, hdr map[string]string, w want) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL(path), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		code, h, _ := harness.Do(t, req)
		if code != w.code {
			t.Fatalf("%s %s %v: status %d, want %d", method, path, hdr, code, w.code)
		}
		for name, v := range map[string]string{"x-ratelimit-limit": w.limit, "x-ratelimit-remaining": w.remaining, "x-ratelimit-reset": w.reset} {
			switch got, present := h.Get(name), len(h.Values(name)) > 0; {
			case v == "absent" && present:
				t.Errorf("%s %s %v: %s %q, want none", method, path, hdr, name, got)
			case v != "" && v != "absent" && got != v:
				t.Errorf("%s %s %v: %s %q, want %q", method, path, hdr, name, got, v)
			}
		}
	}
	get := func(t *testing.T, path string, hdr map[string]string, w want) { send(t, http.MethodGet, path, hdr, w) }

	t.Run("NoRateLimit", func(t *testing.T) {
		for i := 0; i < 11; i++ {
			get(t, "/no-ratelimit", nil, want{200, "absent", "absent", "absent"})
		}
	})
	t.Run("SpecificUser", func(t *testing.T) {
		john := map[string]string{"x-user-id": "john"}
		for i := 1; i <= 3; i++ {
			get(t, "/ratelimit-specific-user", john, want{200, "3", strconv.Itoa(3 - i), ""})
		}
		// Envoy Gateway: "this request should be limited because the user is john".
		get(t, "/ratelimit-specific-user", john, want{429, "3", "0", ""})
		// "not john: hits the default bucket", all ten of it: john's
		// requests took nothing from it.
		mike := map[string]string{"x-user-id": "mike"}
		for i := 1; i <= 10; i++ {
			reset := "0"
			if i == 10 {
				reset = ""
			}
			get(t, "/ratelimit-specific-user", mike, want{200, "10", strconv.Itoa(10 - i), reset})
		}
		get(t, "/ratelimit-specific-user", mike, want{429, "10", "0", ""})
	})
	t.Run("AllTraffic", func(t *testing.T) {
		get(t, "/ratelimit-all-traffic", nil, want{200, "3", "2", "0"})
		get(t, "/ratelimit-all-traffic", nil, want{200, "3", "1", "0"})
		get(t, "/ratelimit-all-traffic", nil, want{200, "3", "0", ""})
		get(t, "/ratelimit-all-traffic", nil, want{429, "3", "0", ""})
	})
	t.Run("HeaderInvertMatch", func(t *testing.T) {
		org1 := map[string]string{"x-user-id": "one", "x-org-id": "org1"}
		for i := 1; i <= 3; i++ {
			get(t, "/ratelimit-invert-match", org1, want{200, "3", strconv.Itoa(3 - i), ""})
		}
		get(t, "/ratelimit-invert-match", org1, want{429, "3", "0", ""})
		// No descriptor matches and the policy has no default rule: Envoy
		// Gateway's implied default (4294967295 per second) answers.
		get(t, "/ratelimit-invert-match", map[string]string{"x-user-id": "one", "x-org-id": "test"}, want{200, "4294967295", "4294967295", "0"})
	})
	t.Run("PathMatch", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			get(t, "/ratelimit-path-match/foo", nil, want{200, "3", strconv.Itoa(3 - i), ""})
		}
		get(t, "/ratelimit-path-match/foo", nil, want{429, "3", "0", ""})
		get(t, "/ratelimit-path-match/bar", nil, want{200, "4294967295", "", "0"})
	})
	t.Run("MethodMatch", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			get(t, "/ratelimit-method-match", nil, want{200, "3", strconv.Itoa(3 - i), ""})
		}
		get(t, "/ratelimit-method-match", nil, want{429, "3", "0", ""})
		send(t, http.MethodPost, "/ratelimit-method-match", nil, want{200, "4294967295", "", "0"})
	})
	t.Run("ShadowMode", func(t *testing.T) {
		// "always return 200 because shadow mode"; the rule still counts.
		one := map[string]string{"x-user-id": "one"}
		for i := 1; i <= 10; i++ {
			get(t, "/ratelimit-shadow-mode", one, want{200, "3", strconv.Itoa(max(3-i, 0)), ""})
		}
		if got := p.Envoy.Stat(t, "btp.ratelimit.shadow"); got != 7 {
			t.Errorf("btp.ratelimit.shadow = %d, want 7 (10 requests over a limit of 3)", got)
		}
	})
	// john 1, mike 1, all-traffic 1, invert 1, path 1, method 1.
	if got := p.Envoy.Stat(t, "btp.ratelimit.over_limit"); got != 6 {
		t.Errorf("btp.ratelimit.over_limit = %d, want 6", got)
	}
}

// The descriptor semantics for the selectors Envoy Gateway's manifest does
// not exercise (Distinct header, Distinct source CIDR, query parameters),
// rendered by btp from testdata/ratelimit-descriptors.yaml.tmpl. Envoy
// Gateway's translator turns each into a descriptor entry
// (buildHeaderMatchLocalRateLimitActions, buildCIDRMatchLocalRateLimitActions,
// buildQueryParamMatchLocalRateLimitActions); Envoy takes from every
// descriptor a request matches, lowest fill rate first.
func TestLocalRateLimitDescriptors(t *testing.T) {
	p := harness.Up(t, "testdata/ratelimit-descriptors.yaml.tmpl", harness.StartBackends(t, "be", 1))
	status := func(c *http.Client, path string, hdr map[string]string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, p.URL(path), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		code, h, _ := harness.DoWith(t, c, req)
		return code, h
	}
	expect := func(c *http.Client, path string, hdr map[string]string, codes ...int) {
		t.Helper()
		for i, want := range codes {
			if code, h := status(c, path, hdr); code != want {
				t.Fatalf("%s %v request %d: %d (limit %s), want %d", path, hdr, i+1, code, h.Get("x-ratelimit-limit"), want)
			}
		}
	}
	local := harness.ClientFrom("127.0.0.1")

	// Distinct header: two per user, and users' requests never reach the
	// default bucket of 5.
	expect(local, "/distinct", map[string]string{"x-user": "a"}, 200, 200, 429)
	expect(local, "/distinct", map[string]string{"x-user": "b"}, 200, 200, 429)
	expect(local, "/distinct", nil, 200, 200, 200, 200, 200, 429)
	// Distinct source CIDR: one per client address in 127.0.0.0/24. A
	// request with x-user and x-cidr matches both descriptors: the slower
	// (1/hour) is taken first and refuses the second request, so the
	// user's 2/hour bucket keeps a token.
	both := map[string]string{"x-user": "c", "x-cidr": "on"}
	expect(harness.ClientFrom("127.0.0.2"), "/distinct", both, 200, 429)
	if code, h := status(harness.ClientFrom("127.0.0.3"), "/distinct", both); code != 200 || h.Get("x-ratelimit-limit") != "1" {
		t.Fatalf("another client address: %d limit %q, want 200 under its own 1/hour bucket", code, h.Get("x-ratelimit-limit"))
	}
	expect(harness.ClientFrom("127.0.0.3"), "/distinct", map[string]string{"x-user": "c"}, 429)

	// Query parameters: Distinct per (percent-decoded) value; an inverted
	// Exact match takes every request whose tier is not gold.
	expect(local, "/query?tier=gold&key=k1", nil, 200, 200, 429)
	expect(local, "/query?tier=gold&key=k%32", nil, 200)
	expect(local, "/query?tier=gold&key=k2", nil, 200, 429)
	expect(local, "/query?tier=gold", nil, 200, 200, 200, 200)
	expect(local, "/query?tier=silver", nil, 200, 200, 200, 429)
	expect(local, "/query", nil, 429)
}
