package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// HTTPRoute filters through a real Envoy, as Envoy Gateway renders them and
// as the Gateway API conformance tests it runs expect
// (HTTPRouteRequestHeaderModifier, HTTPRouteResponseHeaderModifier,
// HTTPRouteRewritePath, HTTPRouteRewriteHost, HTTPRouteRedirectPath /
// Hostname / Port / Scheme, HTTPRouteRequestMirror, HTTPRouteRequestTimeout,
// HTTPRouteBackendRequestTimeout, HTTPRouteBackendRequestHeaderModifier).
func TestRouteFilters(t *testing.T) {
	app, shadow, slow := harness.StartBackend(t, "app"), harness.StartBackend(t, "shadow"), harness.StartBackend(t, "slow")
	v := harness.NewVars(t, []*harness.Backend{app, shadow, slow})
	boot := harness.Render(t, harness.Execute(t, "testdata/routefilters.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, c *http.Client, path string, hdr http.Header) (int, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.URL(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "shop.example.com"
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		code, h, _ := harness.DoWith(t, c, req)
		return code, h
	}
	last := func(t *testing.T, b *harness.Backend) harness.Request {
		t.Helper()
		rs := b.Requests()
		if len(rs) == 0 {
			t.Fatalf("backend %s saw no request", b.Name)
		}
		return rs[len(rs)-1]
	}

	t.Run("request and response header modifiers", func(t *testing.T) {
		code, h := get(t, harness.Client, "/headers", http.Header{"X-Added": {"client"}, "X-Set": {"client"}, "X-Secret": {"s"}})
		if code != 200 {
			t.Fatalf("status %d, want 200", code)
		}
		got := last(t, app).Header
		if v := got.Values("X-Added"); len(v) != 2 || v[0] != "client" || v[1] != "added" {
			t.Errorf("x-added %q: add appends, want [client added]", v)
		}
		if v := got.Values("X-Set"); len(v) != 1 || v[0] != "set" {
			t.Errorf("x-set %q: set overwrites, want [set]", v)
		}
		if v := got.Get("X-Secret"); v != "" {
			t.Errorf("x-secret %q reached the backend, want removed", v)
		}
		if h.Get("x-resp-added") != "r" || h.Get("x-backend") != "overwritten" || h.Get("x-body-bytes") != "" {
			t.Errorf("response headers x-resp-added %q x-backend %q x-body-bytes %q, want r, overwritten, removed",
				h.Get("x-resp-added"), h.Get("x-backend"), h.Get("x-body-bytes"))
		}
	})

	t.Run("URL rewrite", func(t *testing.T) {
		for _, tc := range []struct{ path, wantPath, wantHost string }{
			{"/prefix/one?q=1", "/new/one?q=1", "rewritten.example.com"}, // ReplacePrefixMatch + hostname
			{"/prefix", "/new", "rewritten.example.com"},
			{"/strip/two", "/two", "shop.example.com"}, // prefix to "/": the regex form, no "//"
			{"/strip", "/", "shop.example.com"},
			{"/full/any/thing", "/replaced", "shop.example.com"}, // ReplaceFullPath
		} {
			if code, _ := get(t, harness.Client, tc.path, nil); code != 200 {
				t.Fatalf("%s: status %d, want 200", tc.path, code)
			}
			r := last(t, app)
			if r.Path != tc.wantPath || r.Host != tc.wantHost {
				t.Errorf("%s reached the backend as host %q path %q, want %q %q", tc.path, r.Host, r.Path, tc.wantHost, tc.wantPath)
			}
			if tc.wantHost != "shop.example.com" && r.Header.Get("X-Forwarded-Host") != "shop.example.com" {
				t.Errorf("%s: x-forwarded-host %q, want the client's host shop.example.com", tc.path, r.Header.Get("X-Forwarded-Host"))
			}
		}
	})

	t.Run("redirect", func(t *testing.T) {
		before := app.Hits()
		for _, tc := range []struct {
			path     string
			code     int
			location string
		}{
			{"/moved/x", 301, "https://www.example.com:8443/here/x"},
			// No statusCode: the CRD's default 302; the scheme and port stay.
			{"/found", 302, "http://example.org/elsewhere"},
		} {
			code, h := get(t, noFollow, tc.path, nil)
			if code != tc.code || h.Get("Location") != tc.location {
				t.Errorf("%s: %d Location %q, want %d %q", tc.path, code, h.Get("Location"), tc.code, tc.location)
			}
		}
		if app.Hits() != before {
			t.Errorf("a redirect reached the backend")
		}
	})

	t.Run("mirror", func(t *testing.T) {
		if code, _ := get(t, harness.Client, "/mirror/m1", nil); code != 200 {
			t.Fatalf("status %d, want 200", code)
		}
		if r := last(t, app); r.Path != "/mirror/m1" {
			t.Errorf("the backend got %q, want /mirror/m1", r.Path)
		}
		// The mirror is sent asynchronously: wait for it, bounded.
		var got []harness.Request
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = shadow.Requests(); len(got) > 0 {
				break
			}
		}
		if len(got) != 1 || got[0].Path != "/mirror/m1" || got[0].Host != "shop.example.com" {
			t.Fatalf("the shadow backend saw %+v, want one copy of /mirror/m1 for host shop.example.com (no -shadow suffix)", got)
		}
	})

	t.Run("timeouts", func(t *testing.T) {
		slow.SetDelay(3 * time.Second)
		defer slow.SetDelay(0)
		for _, path := range []string{"/request-timeout", "/backend-timeout"} {
			if code, _ := get(t, harness.Client, path, nil); code != http.StatusGatewayTimeout {
				t.Errorf("%s: status %d with a 3s backend, want 504 (timeout 300ms)", path, code)
			}
		}
		slow.SetDelay(0)
		if code, _ := get(t, harness.Client, "/backend-timeout", nil); code != 200 {
			t.Errorf("fast backend: status %d, want 200", code)
		}
	})

	t.Run("backendRef filters", func(t *testing.T) {
		code, h := get(t, harness.Client, "/per-backend", nil)
		if code != 200 || h.Get("x-from-ref") != "1" {
			t.Errorf("status %d x-from-ref %q, want 200 and 1", code, h.Get("x-from-ref"))
		}
		if v := last(t, app).Header.Get("X-Backend-Ref"); v != "app" {
			t.Errorf("x-backend-ref %q at the backend, want app", v)
		}
	})
}
