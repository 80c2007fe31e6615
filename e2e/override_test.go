package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// responseOverride replaces the backend's 500 with the configured status,
// content type and body; a route without it passes the 500 through.
func TestResponseOverride(t *testing.T) {
	p := filterProxy(t)
	code, h, body := harness.Get(t, p.URL("/override"), nil)
	if code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", code)
	}
	if got := h.Get("content-type"); got != "application/json" {
		t.Errorf("content-type %q, want application/json", got)
	}
	if want := `{"error":"backend unavailable"}`; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if p.Backends[1].Hits() != 1 {
		t.Errorf("backend hits %d, want 1 (the override replaces a real upstream answer)", p.Backends[1].Hits())
	}
	if got := p.Envoy.Stat(t, "btp.override.applied"); got != 1 {
		t.Errorf("btp.override.applied = %d, want 1", got)
	}
	// A 200 on the same route is not overridden.
	p.Backends[1].SetStatus(http.StatusOK)
	if code, _, body := harness.Get(t, p.URL("/override"), nil); code != http.StatusOK || body != "be-1\n" {
		t.Errorf("200 from the backend became %d %q", code, body)
	}
}

// responseOverride sees the local replies of the features behind it:
// Envoy Gateway orders custom_response before fault, buffer and
// local_ratelimit (internal/xds/translator/httpfilters.go), so the fault
// abort's 418, the request buffer's 413 and the local rate limit's 429 are
// overridden like an upstream status. A gRPC request's abort is matched as
// the HTTP 200 it is on the wire and stays gRPC-shaped. Envoy sends the
// replacement straight to the codec with fresh headers, so the 429's
// x-ratelimit-* headers do not carry over.
func TestResponseOverrideLocalReplies(t *testing.T) {
	p := egProxy(t, "response-override-local.yaml")
	code, h, body := harness.Get(t, p.URL("/fault"), nil)
	if code != http.StatusServiceUnavailable || h.Get("content-type") != "application/json" || body != `{"error":"teapot overridden"}` {
		t.Errorf("fault abort: %d %q %q, want 503 application/json {\"error\":\"teapot overridden\"}", code, h.Get("content-type"), body)
	}
	req, _ := http.NewRequest(http.MethodPost, p.URL("/fault"), strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("content-type", "application/grpc")
	code, h, _ = harness.Do(t, req)
	if code != http.StatusOK || h.Get("grpc-status") != "7" || h.Get("grpc-message") != "grpc overridden" || h.Get("content-type") != "application/grpc" {
		t.Errorf("grpc abort: %d grpc-status %q grpc-message %q content-type %q, want 200, 7 (PERMISSION_DENIED for 403), \"grpc overridden\", application/grpc",
			code, h.Get("grpc-status"), h.Get("grpc-message"), h.Get("content-type"))
	}
	if got := p.Envoy.Stat(t, "btp.fault.aborts"); got != 2 {
		t.Errorf("btp.fault.aborts = %d, want 2", got)
	}

	for i := 1; i <= 2; i++ {
		if code, h, _ := harness.Get(t, p.URL("/ratelimit"), nil); code != http.StatusOK || h.Get("x-ratelimit-limit") != "2" {
			t.Fatalf("request %d: %d limit %q, want 200 under a limit of 2", i, code, h.Get("x-ratelimit-limit"))
		}
	}
	code, h, body = harness.Get(t, p.URL("/ratelimit"), nil)
	if code != http.StatusTooManyRequests || body != "too many requests, overridden" || h.Get("content-type") != "text/plain" {
		t.Errorf("429: %d %q %q, want 429 text/plain \"too many requests, overridden\"", code, h.Get("content-type"), body)
	}
	for _, name := range []string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("overridden 429 carries %s %q; Envoy's replacement has fresh headers", name, v)
		}
	}
	if got := p.Envoy.Stat(t, "btp.ratelimit.over_limit"); got != 1 {
		t.Errorf("btp.ratelimit.over_limit = %d, want 1", got)
	}
	// The request buffer (before the rate limit) refuses a body over 8 bytes.
	code, _, body = post(t, p.URL("/ratelimit"), "0123456789", false)
	if code != http.StatusBadRequest || body != "body too large, overridden" {
		t.Errorf("413: %d %q, want 400 \"body too large, overridden\"", code, body)
	}
	if got := p.Envoy.Stat(t, "btp.override.applied"); got != 4 {
		t.Errorf("btp.override.applied = %d, want 4", got)
	}
	if hits := p.Backends[0].Hits(); hits != 2 {
		t.Errorf("backend hits %d, want 2 (only the requests under the limit)", hits)
	}
}

// Envoy Gateway's own response override e2e case,
// test/e2e/tests/response_override.go ("basic response override") against
// its manifest testdata/response-override.yaml, rendered by btp: the body
// is an Envoy format string, so "%RESPONSE_CODE% Oops! ..." answers
// "404 Oops! ..."; a 403 becomes a bodiless 404; 500 and 501-511 take the
// ConfigMap's JSON.
func TestEnvoyGatewayResponseOverride(t *testing.T) {
	p := egProxy(t, "response-override.yaml")
	for _, tc := range []struct {
		path, ctype, body string
		code              int
	}{
		{"/status/404", "text/plain", "404 Oops! Your request is not found.", 404},
		{"/status/500", "application/json", `{"error": "Internal Server Error"}`, 500},
		{"/status/503", "application/json", `{"error": "Internal Server Error"}`, 503},
		{"/status/403", "", "", 404},
		{"/status/200", "text/plain", "infra-backend-v1-0\n", 200},
	} {
		code, h, body := harness.Get(t, p.URL(tc.path), nil)
		if code != tc.code || h.Get("content-type") != tc.ctype || body != tc.body {
			t.Errorf("%s: %d %q %q, want %d %q %q", tc.path, code, h.Get("content-type"), body, tc.code, tc.ctype, tc.body)
		}
	}
}

// The dynamic-variables cases of Envoy Gateway's response_override.go:
// override bodies read the status and the request's X-User-ID, inline and
// from a ConfigMap.
func TestResponseOverrideFormats(t *testing.T) {
	p := egProxy(t, "response-override-format.yaml")
	for _, tc := range []struct {
		path, user, body string
		code             int
	}{
		{"/backend/404", "user-404", `{"status_code":"404","user_id":"user-404","error":"not_found"}`, 404},
		{"/backend/500", "user-500", "Error 500 for user user-500: Internal Server Error", 500},
		{"/backend/503", "user-503", "ConfigMap response with status: 503 and user: user-503", 503},
		{"/backend/500", "", "Error 500 for user -: Internal Server Error", 500}, // a missing value is "-"
		// Envoy's attributes, through the dynamic module's SDK.
		{"/backend/502", "", "HTTP/1.1 via_upstream text/plain 127.0.0.1 100%", 502},
	} {
		hdr := map[string]string{}
		if tc.user != "" {
			hdr["x-user-id"] = tc.user
		}
		code, _, body := harness.Get(t, p.URL(tc.path), hdr)
		if code != tc.code || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.path, tc.user, code, body, tc.code, tc.body)
		}
	}
}

// match.responseHeaders, response.header and source in a real Envoy, with
// Envoy Gateway's semantics (its translator testdata
// backendtrafficpolicy-with-response-override{,-source}.in.yaml rendered by
// internal/xds/translator/custom_response.go): headers AND-ed with the
// status; header add/set on the replacement; source Local for Envoy's own
// replies (btp's fault abort, the router's 503 for a dead backend) and
// Backend for the upstream's.
func TestResponseOverrideMatchAndSource(t *testing.T) {
	bs := harness.StartBackends(t, "be", 2)
	p := harness.Up(t, "testdata/override-match.yaml.tmpl", bs)
	bs[1].Close()
	get := func(path string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		m := map[string]string{}
		for i := 0; i+1 < len(hdr); i += 2 {
			m[hdr[i]] = hdr[i+1]
		}
		return harness.Get(t, p.URL(path), m)
	}
	code, h, body := get("/status/503", "x-echo-x-error-type", "upstream-timeout", "x-echo-x-region", "us-east-1")
	if code != 503 || body != `{"error":"combined match"}` || h.Get("content-type") != "application/json" {
		t.Errorf("combined match: %d %q %q", code, h.Get("content-type"), body)
	}
	// One header off: the combined entry does not match; the 503 from the
	// upstream is the Backend entry's.
	if code, _, body := get("/status/503", "x-echo-x-error-type", "upstream-timeout", "x-echo-x-region", "eu-west-1"); code != 502 || body != "backend 503" {
		t.Errorf("partial header match: %d %q, want 502 \"backend 503\"", code, body)
	}
	code, h, body = get("/status/200", "x-echo-x-custom-header", "custom-value", "x-echo-cache-control", "max-age=60")
	if code != 200 || body != "matched response header" || h.Get("x-add-header") != "added-200" || h.Get("x-set-header") != "set-header" ||
		h.Get("cache-control") != "no-cache" || h.Get("x-custom-header") != "" {
		t.Errorf("header match: %d %q headers %v", code, body, h)
	}
	if code, _, body := get("/status/200"); code != 200 || body != "be-0\n" {
		t.Errorf("no match: %d %q", code, body)
	}
	if code, _, body := get("/fault"); code != 503 || body != "local 503: fault_filter_abort" {
		t.Errorf("fault abort: %d %q, want 503 \"local 503: fault_filter_abort\"", code, body)
	}
	code, _, body = get("/dead")
	if code != 503 || !strings.HasPrefix(body, "local 503: upstream_reset_before_response_started") {
		t.Errorf("router's 503: %d %q, want 503 \"local 503: upstream_reset_before_response_started...\"", code, body)
	}
	if got := p.Envoy.Stat(t, "btp.override.applied"); got != 5 {
		t.Errorf("btp.override.applied = %d, want 5", got)
	}
}

// responseOverride redirect, as Envoy Gateway renders it: Envoy's
// custom_response RedirectPolicy is an internal redirect, so the 404 is
// replaced by what the redirect's host and path answer (a GET, through the
// route table again), with the redirect's status code; no Location header
// reaches the client. The status code is set by custom_response on the
// route the redirect lands on, so a target route without the policy answers
// with its own status (Envoy's behaviour, hence Envoy Gateway's). The
// policy's other entries render in the same native filter and keep their
// order and semantics.
func TestResponseOverrideRedirect(t *testing.T) {
	bs := harness.StartBackends(t, "be", 2)
	p := harness.Up(t, "testdata/override-redirect.yaml.tmpl", bs)
	code, h, body := harness.Get(t, p.URL("/status/404"), nil)
	if code != http.StatusMovedPermanently || body != "be-1\n" || h.Get("location") != "" {
		t.Errorf("redirect: %d location %q body %q, want 301, no location, the target's body", code, h.Get("location"), body)
	}
	reqs := bs[1].Requests()
	if len(reqs) != 1 || reqs[0].Path != "/redirect/path" || reqs[0].Host != "redirect.example.com" || reqs[0].Method != http.MethodGet {
		t.Errorf("target saw %+v, want one GET redirect.example.com/redirect/path", reqs)
	}
	code, _, body = harness.Get(t, p.URL("/status/403"), nil)
	if code != http.StatusOK || body != "be-1\n" {
		t.Errorf("redirect to a route without the policy: %d %q, want the target's own 200", code, body)
	}
	if reqs := bs[1].Requests(); len(reqs) != 2 || reqs[1].Path != "/plain/page" || reqs[1].Host != "plain.example.com" {
		t.Errorf("target saw %+v, want GET plain.example.com/plain/page second", reqs)
	}
	code, h, body = harness.Get(t, p.URL("/status/501"), map[string]string{"x-user": "u7"})
	if code != 501 || body != "native 501 for u7" || h.Get("x-set-header") != "set" || h.Get("content-type") != "text/plain" {
		t.Errorf("local response entry: %d %q %q %v", code, h.Get("content-type"), body, h)
	}
	if code, _, body := harness.Get(t, p.URL("/status/200"), nil); code != 200 || body != "be-0\n" {
		t.Errorf("no match: %d %q", code, body)
	}
}

// The global rate limit's 429 meets the response override too: Envoy
// Gateway orders custom_response (0) before ratelimit (303), and btp's
// filter runs before Envoy's ratelimit filter as Envoy Gateway's fault,
// buffer and local_ratelimit do (internal/xds/translator/httpfilters.go).
// The real envoyproxy/ratelimit service and Redis on loopback, as in
// ratelimit_global_test.go.
func TestResponseOverrideGlobalRateLimit(t *testing.T) {
	app := harness.StartBackend(t, "app")
	redis, rls := harness.StartRedis(t), harness.NewRateLimitService(t)
	v := harness.NewVars(t, []*harness.Backend{app})
	dir := t.TempDir()
	boot := harness.RenderWith(t, harness.Execute(t, "testdata/override-global.yaml.tmpl", v), v.AdminPort,
		"--ratelimit-url", rls.URL(), "--ratelimit-config", dir, "--ratelimit-timeout", "1s")
	for name, as := range harness.ClusterAddrs(t, boot) {
		for _, a := range as {
			if !strings.HasPrefix(a, "127.") {
				t.Fatalf("cluster %s: address %s is outside loopback", name, a)
			}
		}
	}
	rls.Start(t, redis, dir, "default/gw/http")
	p := &harness.Proxy{Envoy: harness.StartEnvoy(t, boot, v.AdminPort), Port: v.Port, Backends: []*harness.Backend{app}}
	for i := 1; i <= 2; i++ {
		if code, _, _ := harness.Get(t, p.URL("/limited"), nil); code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200 under the global limit of 2", i, code)
		}
	}
	code, h, body := harness.Get(t, p.URL("/limited"), nil)
	if code != http.StatusServiceUnavailable || body != "global 429 request_rate_limited" || h.Get("content-type") != "text/plain" {
		t.Errorf("global 429: %d %q %q, want 503 text/plain \"global 429 request_rate_limited\"", code, h.Get("content-type"), body)
	}
	if app.Hits() != 2 {
		t.Errorf("backend hits %d, want 2", app.Hits())
	}
}
