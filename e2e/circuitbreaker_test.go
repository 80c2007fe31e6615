package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// circuitBreaker (maxConnections 1, maxPendingRequests 1,
// maxParallelRequests 1): while the backend stalls the one request it has,
// the requests Envoy cannot queue overflow at once with 503 and Envoy's
// overflow marker (x-envoy-overloaded: true, what the UO response flag
// sets), counted in the cluster's overflow stats; the rest complete once
// the backend answers. One worker, so one connection pool decides.
func TestCircuitBreakerOverflow(t *testing.T) {
	p := clusterProxy(t, nil, "--concurrency", "1")
	be := p.Backends[beBreaker]
	be.Stall()

	type result struct {
		code       int
		overloaded string
	}
	const n = 5
	results := make(chan result, n)
	var wg sync.WaitGroup
	send := func() {
		defer wg.Done()
		code, h, err := harness.Fetch(p.URL("/breaker"))
		if err != nil {
			t.Error(err)
		}
		results <- result{code, h.Get("x-envoy-overloaded")}
	}
	wg.Add(1)
	go send()
	waitFor(t, "the first request to reach the stalled backend", func() bool { return be.InFlight() == 1 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go send()
	}
	// Overflow answers come while the backend still stalls.
	waitFor(t, "overflow answers", func() bool { return len(results) >= 2 })
	time.Sleep(300 * time.Millisecond)
	early := len(results)
	be.Release()
	wg.Wait()
	close(results)

	ok, overflow := 0, 0
	for r := range results {
		switch {
		case r.code == http.StatusOK:
			ok++
		case r.code == http.StatusServiceUnavailable && r.overloaded == "true":
			overflow++
		default:
			t.Errorf("unexpected answer: %d x-envoy-overloaded=%q", r.code, r.overloaded)
		}
	}
	if overflow != early || overflow < 2 || ok+overflow != n {
		t.Errorf("%d overflowed (%d while stalled), %d answered; want >= 2 overflows, all while stalled, the rest 200", overflow, early, ok)
	}
	s := p.Envoy.Stats(t)
	counted := s[clusterStat("breaker", "upstream_rq_active_overflow")] + s[clusterStat("breaker", "upstream_rq_pending_overflow")]
	if counted != int64(overflow) {
		t.Errorf("upstream_rq_{active,pending}_overflow sum to %d, want %d", counted, overflow)
	}
	if be.Hits() != int64(ok) {
		t.Errorf("backend hits %d, want %d", be.Hits(), ok)
	}
	t.Logf("%d of %d requests overflowed", overflow, n)
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The overflow shows as Envoy's UO response flag in the access log
// (hand-written bootstrap: the rendered one has no access log).
func TestCircuitBreakerFlagInAccessLog(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[2]
	be.Stall()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, _, err := harness.Fetch(p.URL("/breaker/stalled")); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "the first request to reach the stalled backend", func() bool { return be.InFlight() == 1 })
	code, h, _ := harness.Get(t, p.URL("/breaker/overflow"), nil)
	be.Release()
	<-done
	if code != http.StatusServiceUnavailable || h.Get("x-envoy-overloaded") != "true" {
		t.Errorf("overflow: %d x-envoy-overloaded=%q, want 503 and true", code, h.Get("x-envoy-overloaded"))
	}
	p.Envoy.Stop() // flushes the access log
	log := p.Envoy.Log()
	for _, line := range []string{"access: 503 UO /breaker/overflow", "access: 200 - /breaker/stalled"} {
		if !strings.Contains(log, line) {
			t.Errorf("access log lacks %q", line)
		}
	}
}
