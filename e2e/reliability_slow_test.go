package e2e

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Probe 3: hundreds of slowloris clients hold connections open, dribbling
// request headers or a request body (to /slow, under requestBuffer) a few
// bytes at a time, while a side route keeps being served. Latencies are
// recorded, not asserted tight: the machine is shared.
func TestReliabilitySlowClients(t *testing.T) {
	r := relProxy(t)
	n := scale(100, 400)
	hold := time.Duration(scale(3, 20)) * time.Second
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened, dribbled atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", r.addr(), 5*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			opened.Add(1)
			// Half dribble headers that never end, half a body that never
			// completes (Content-Length 60000 under the 64Ki limit).
			head, drip := "GET /slow HTTP/1.1\r\nHost: rel\r\n", "x-slow: aaaaaaaaaa\r\n"
			if i%2 == 1 {
				head, drip = "POST /slow HTTP/1.1\r\nHost: rel\r\nContent-Length: 60000\r\n\r\n", "bbbbbbbbbbbbbbbbbbbb"
			}
			c.SetWriteDeadline(time.Now().Add(hold + 5*time.Second))
			if _, err := c.Write([]byte(head)); err != nil {
				return
			}
			tk := time.NewTicker(100 * time.Millisecond)
			defer tk.Stop()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				if _, err := c.Write([]byte{drip[k%len(drip)]}); err != nil {
					return
				}
				dribbled.Add(1)
			}
		}()
	}

	// The side route, sequentially, for as long as the slow clients hold on.
	var lat []time.Duration
	var failed []string
	start := time.Now()
	peakActive := int64(0)
	for time.Since(start) < hold {
		t0 := time.Now()
		code, _, err := harness.Fetch(r.URL("/side"))
		lat = append(lat, time.Since(t0))
		if err != nil || code != http.StatusOK {
			failed = append(failed, fmt.Sprintf("%d %v", code, err))
		}
		if len(lat)%20 == 0 {
			peakActive = max(peakActive, r.Envoy.Stats(t)["http.main.downstream_cx_active"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	figure(t, "%d slow clients (%d connected, %d bytes dribbled in %v, up to %d connections active); side route %d requests, p50 %v p99 %v max %v, %d failed",
		n, opened.Load(), dribbled.Load(), hold, peakActive, len(lat), p(0.5).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(failed))
	if len(failed) > 0 {
		t.Errorf("side route failed %d of %d times while slow clients held on: %v", len(failed), len(lat), failed[:min(len(failed), 5)])
	}
	if int(opened.Load()) != n || peakActive < int64(n) {
		t.Errorf("%d of %d slow clients connected, up to %d connections active in Envoy: the probe did not hold them", opened.Load(), n, peakActive)
	}
	alive(t, r.Envoy, r.URL("/side"))
}
