package adapter

import (
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// TestCountsBatched: counts wait in Go and reach Envoy's counters in one
// call per counter, within statsFlushEvery, not one call per request; a
// flush into a filter config Envoy dropped (the SDK's call panics) is
// survived.
func TestCountsBatched(t *testing.T) {
	batchCounts = true
	defer func() { batchCounts = false }()
	r := newRig(t, `{}`, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1000,"unit":"Hour"}}]}}}`)
	for range 5 {
		q := r.request("192.0.2.1:1", "GET", "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
			t.Fatalf("DecodeHeaders = %v", st)
		}
		q.f.OnStreamComplete()
		q.f.OnDestroy(api.Normal)
	}
	ok := r.stats.counters["btp.ratelimit.ok"]
	if n := ok.calls.Load(); n != 0 {
		t.Fatalf("%d calls into Envoy's counter right after the requests, want 0 (batched)", n)
	}
	deadline := time.Now().Add(statsFlushEvery + 2*time.Second)
	for ok.n.Load() != 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n, calls := ok.n.Load(), ok.calls.Load(); n != 5 || calls != 1 {
		t.Fatalf("btp.ratelimit.ok = %d in %d calls, want 5 in 1", n, calls)
	}

	s := &stats{}
	s.metrics[0] = panickingCounter{}
	s.pending[0].Add(1)
	s.flush() // must not panic
	if s.armed.Load() {
		t.Error("a failed flush left a flush marked as scheduled: no later one would be")
	}
}

type panickingCounter struct{ api.CounterMetric }

func (panickingCounter) Increment(int64) { panic("request has been finished") }
