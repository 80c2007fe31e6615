package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// healthCheck.passive (outlier detection): a backend answering 5xx twice in
// a row is ejected and gets no more traffic.
func TestOutlierDetection(t *testing.T) {
	p := clusterProxy(t, nil)
	bad := p.Backends[beOutlier+1]
	bad.SetStatus(http.StatusInternalServerError)

	for i := 0; i < 12; i++ {
		harness.Get(t, p.URL("/outlier"), nil)
	}
	p.Envoy.WaitStat(t, clusterStat("outlier", "outlier_detection.ejections_active"), 5*time.Second, func(v int64) bool { return v == 1 })
	before := bad.Hits()
	if before < 2 {
		t.Errorf("failing backend got %d requests before ejection, want >= 2 (consecutive5XxErrors)", before)
	}
	for i := 0; i < 30; i++ {
		if code, _, _ := harness.Get(t, p.URL("/outlier"), nil); code != http.StatusOK {
			t.Errorf("request %d after ejection: status %d, want 200", i, code)
		}
	}
	if got := bad.Hits() - before; got != 0 {
		t.Errorf("ejected backend got %d more requests, want 0", got)
	}
}
