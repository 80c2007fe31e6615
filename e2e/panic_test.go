package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

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

// A panic flood does not flood Envoy's log: one stack and at most ten
// lines a minute (filter/guard.go), while btp.panics counts every panic
// and Envoy keeps serving. Bounded: 2000 requests or 60 s.
func TestPanicFloodLogIsBounded(t *testing.T) {
	p := filterProxy(t)
	const flood = 2000
	deadline := time.Now().Add(60 * time.Second)
	sent := 0
	for ; sent < flood && time.Now().Before(deadline); sent++ {
		if code, _, _ := harness.Get(t, p.URL("/"), map[string]string{"x-btp-panic": "1"}); code != http.StatusInternalServerError {
			t.Fatalf("panicking request %d: status %d, want 500", sent, code)
		}
	}
	if code, _, _ := harness.Get(t, p.URL("/"), nil); code != http.StatusOK {
		t.Fatalf("request after the flood: status %d, want 200", code)
	}
	if got := p.Envoy.Stat(t, "btp.panics"); got != int64(sent) {
		t.Errorf("btp.panics = %d, want %d", got, sent)
	}
	log := p.Envoy.Log()
	lines := strings.Count(log, "btp: recovered panic")
	stacks := strings.Count(log, "runtime/debug.Stack")
	t.Logf("%d panics: %d log lines, %d stacks, %d bytes of Envoy log", sent, lines, stacks, len(log))
	if lines < 1 || lines > 10 || stacks != 1 {
		t.Errorf("%d panics logged %d lines and %d stacks, want 1..10 lines and 1 stack", sent, lines, stacks)
	}
}
