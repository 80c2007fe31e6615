package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Probe 6: the module's local limit and Envoy's native local_ratelimit
// under the same load, interleaved, on Envoy's 2 workers: 100 per hour on
// each (testdata/reliability.bootstrap.yaml, /limit/module and
// /limit/native), so nothing refills while the probe runs and both must
// admit exactly 100. Connections land on both workers (checked in the
// listener's per-worker stats), so one limit holds across them.
func TestReliabilityLimitsAcrossWorkers(t *testing.T) {
	r := relProxy(t)
	n := scale(600, 6000)
	const conc = 32
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	var module, native counts
	var errs counts
	var wg sync.WaitGroup
	work := make(chan int)
	deadline := time.Now().Add(time.Duration(scale(30, 120)) * time.Second)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				path, c := "/limit/module", &module
				if i%2 == 1 {
					path, c = "/limit/native", &native
				}
				if time.Now().After(deadline) {
					errs.add(-1)
					continue
				}
				resp, err := client.Get(r.URL(path))
				if err != nil {
					errs.add(0)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				c.add(resp.StatusCode)
			}
		}()
	}
	for i := range 2 * n {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	st := r.Envoy.Stats(t)
	var workers []string
	for name, v := range st {
		if strings.HasPrefix(name, "listener.127.0.0.1_") && strings.Contains(name, ".worker_") && strings.HasSuffix(name, ".downstream_cx_total") {
			workers = append(workers, fmt.Sprintf("%s=%d", name[strings.Index(name, "worker_"):strings.LastIndex(name, ".")], v))
			if v == 0 {
				t.Errorf("%s = 0: the load did not reach both workers", name)
			}
		}
	}
	slices.Sort(workers)
	figure(t, "%d requests per route, %d concurrent, in %.1fs; module %v, native %v; connections per worker %v; errors %v",
		n, conc, took.Seconds(), module.String(), native.String(), workers, errs.String())
	if len(workers) != 2 {
		t.Errorf("per-worker listener stats %v, want 2 workers", workers)
	}
	if errs.String() != "map[]" {
		t.Errorf("requests failed: %v (0: network error, -1: deadline)", errs.String())
	}
	if module.get(200) != 100 || native.get(200) != 100 {
		t.Errorf("allowed within the hour: module %d, native %d; want exactly 100 each", module.get(200), native.get(200))
	}
	if module.get(429) != n-100 || native.get(429) != n-100 {
		t.Errorf("refused: module %d, native %d; want %d each", module.get(429), native.get(429), n-100)
	}
	if got := st["btp.ratelimit.over_limit"]; got != int64(n-100) {
		t.Errorf("btp.ratelimit.over_limit = %d, want %d", got, n-100)
	}
	alive(t, r.Envoy, r.URL("/side"))
}
