package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// timeout.http.requestTimeout: a backend slower than the timeout gets the
// client a 504 once the timeout passes, not when the backend answers.
func TestRequestTimeout(t *testing.T) {
	p := clusterProxy(t, nil)
	p.Backends[beTimeout].SetDelay(2 * time.Second)
	start := time.Now()
	code, _, body := harness.Get(t, p.URL("/timeout"), nil)
	took := time.Since(start)
	if code != http.StatusGatewayTimeout {
		t.Errorf("status %d %q, want 504", code, body)
	}
	// Envoy's timers tick in whole milliseconds and may fire a fraction of
	// one early (seen: 299.75ms), so the floor allows that much, no more.
	if took < 298*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("answered after %v, want about the 300ms timeout (backend takes 2s)", took)
	}
	p.Backends[beTimeout].SetDelay(0)
	if code, _, _ := harness.Get(t, p.URL("/timeout"), nil); code != http.StatusOK {
		t.Errorf("fast backend: status %d, want 200", code)
	}
}
