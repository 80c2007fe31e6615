package e2e

import (
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Probe 7a: thousands of concurrent 1s fault delays (/delay). Each is held
// at least the delay and then served, a side request is answered
// meanwhile, and every delay is counted.
func TestReliabilityDelayFlood(t *testing.T) {
	r := relProxy(t)
	n := scale(300, 2000)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: n}}
	rss := sampleRSS(t, r.Envoy)
	lat := make([]time.Duration, n)
	var c counts
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			resp, err := client.Get(r.URL("/delay"))
			lat[i] = time.Since(t0)
			if err != nil {
				c.add(0)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.add(resp.StatusCode)
		}()
	}
	// While they are held: the side route answers.
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	sideCode, _, sideErr := harness.Fetch(r.URL("/side"))
	side := time.Since(t0)
	wg.Wait()
	took := time.Since(start)
	base, peak := rss.stop()
	slices.Sort(lat)
	figure(t, "%d concurrent 1s delays: statuses %v, all done in %.2fs, latency min %v p50 %v p99 %v; side request during them %v; RSS %.0f -> peak %.0f MiB",
		n, c.String(), took.Seconds(), lat[0].Round(time.Millisecond), lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond),
		side.Round(time.Millisecond), base, peak)
	if c.get(200) != n {
		t.Errorf("statuses %v, want %d x 200 (0: network error)", c.String(), n)
	}
	if lat[0] < time.Second {
		t.Errorf("a delayed request took %v, want >= 1s", lat[0])
	}
	if sideErr != nil || sideCode != http.StatusOK {
		t.Errorf("side request during the delays: %d %v, want 200", sideCode, sideErr)
	}
	if got := r.Envoy.Stat(t, "btp.fault.delays"); got != int64(n) {
		t.Errorf("btp.fault.delays = %d, want %d", got, n)
	}
	alive(t, r.Envoy, r.URL("/side"))
}

// Probe 7b: a flood of requests that make the engine panic
// (debug.panicHeader): each gets 500, each is counted, Envoy keeps serving.
// The log bytes per panic are recorded (issue 13, point 4).
func TestReliabilityPanicFlood(t *testing.T) {
	r := relProxy(t)
	n := scale(500, 10000)
	const conc = 16
	logBefore := logSize(r.Envoy)
	var c counts
	var wg sync.WaitGroup
	work := make(chan int)
	deadline := time.Now().Add(time.Duration(scale(30, 300)) * time.Second)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if time.Now().After(deadline) {
					c.add(-1)
					continue
				}
				req, _ := http.NewRequest(http.MethodGet, r.URL("/panic"), nil)
				req.Header.Set("x-btp-panic", "1")
				resp, err := harness.Client.Do(req)
				if err != nil {
					c.add(0)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				c.add(resp.StatusCode)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	logBytes := logSize(r.Envoy) - logBefore
	figure(t, "%d panics, %d concurrent, in %.1fs: statuses %v; Envoy log grew %d bytes (%.1f per panic)",
		n, conc, took.Seconds(), c.String(), logBytes, float64(logBytes)/float64(n))
	if c.get(500) != n {
		t.Errorf("statuses %v, want %d x 500 (0: network error, -1: deadline)", c.String(), n)
	}
	if got := r.Envoy.Stat(t, "btp.panics"); got != int64(n) {
		t.Errorf("btp.panics = %d, want %d", got, n)
	}
	// An attacker who can make the engine panic must not fill the disk: the
	// stack is logged a few times a minute, the rest only counted.
	if logBytes > 64<<10 {
		t.Errorf("%d panics wrote %d bytes to Envoy's log, want < 64 KiB", n, logBytes)
	}
	alive(t, r.Envoy, r.URL("/side"))
}

func logSize(e *harness.Envoy) int64 {
	st, err := os.Stat(e.LogPath)
	if err != nil {
		return 0
	}
	return st.Size()
}
