package e2e

import (
	"net/http"
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
