package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A panic inside the engine answers that request with 500, is logged, and
// Envoy keeps serving (debug.panicHeader is set in the filter-level config
// of testdata/filter.bootstrap.yaml).
func TestPanicIs500(t *testing.T) {
	p := filterProxy(t)
	for i := 0; i < 3; i++ {
		code, _, _ := harness.Get(t, p.URL("/"), map[string]string{"x-btp-panic": "1"})
		if code != http.StatusInternalServerError {
			t.Fatalf("panicking request %d: status %d, want 500", i, code)
		}
		if code, _, _ := harness.Get(t, p.URL("/"), nil); code != http.StatusOK {
			t.Fatalf("request after a panic: status %d, want 200", code)
		}
	}
	if !p.Envoy.Running() {
		t.Fatal("envoy exited")
	}
	if got := p.Envoy.Stat(t, "btp.panics"); got != 3 {
		t.Errorf("btp.panics = %d, want 3", got)
	}
	if log := p.Envoy.Log(); !strings.Contains(log, "btp: recovered panic") || !strings.Contains(log, "debug.panicHeader") {
		t.Errorf("envoy log does not show the recovered panic")
	}
	if p.Backends[0].Hits() != 3 {
		t.Errorf("backend hits %d, want 3 (panicking requests must not reach it)", p.Backends[0].Hits())
	}
}
