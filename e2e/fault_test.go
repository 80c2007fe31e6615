package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Fault abort answers with the configured HTTP status, or a gRPC-shaped
// reply for gRPC requests, without reaching the backend.
func TestFaultAbort(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[0]

	code, _, body := harness.Get(t, p.URL("/abort/http"), nil)
	if code != http.StatusTeapot || body != "fault filter abort" {
		t.Errorf("http abort: %d %q, want 418 %q", code, body, "fault filter abort")
	}

	req, _ := http.NewRequest(http.MethodPost, p.URL("/abort/grpc"), strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("content-type", "application/grpc")
	code, h, _ := harness.Do(t, req)
	if code != http.StatusOK || h.Get("grpc-status") != "14" || h.Get("content-type") != "application/grpc" {
		t.Errorf("grpc abort: status %d grpc-status %q content-type %q, want 200, 14, application/grpc", code, h.Get("grpc-status"), h.Get("content-type"))
	}
	if n := len(h.Values("grpc-status")); n != 1 {
		t.Errorf("grpc abort: %d grpc-status headers %q, want exactly 1", n, h.Values("grpc-status"))
	}

	// The same over HTTP/2 without TLS, the way gRPC clients talk.
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, Protocols: &protocols}}
	req, _ = http.NewRequest(http.MethodPost, p.URL("/abort/grpc"), strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	resp, err := h2c.Do(req)
	if err != nil {
		t.Fatalf("h2c gRPC request: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get("grpc-status") != "14" {
		t.Errorf("h2c grpc abort: %s %d grpc-status %q, want HTTP/2 200 with grpc-status 14", resp.Proto, resp.StatusCode, resp.Header.Get("grpc-status"))
	}
	if be.Hits() != 0 {
		t.Errorf("backend hits %d, want 0", be.Hits())
	}
	if got := p.Envoy.Stat(t, "btp.fault.aborts"); got != 3 {
		t.Errorf("btp.fault.aborts = %d, want 3", got)
	}
}

// Fault delay holds the request at least fixedDelay without blocking
// Envoy's workers, and percentage delays about that share of requests.
func TestFaultDelay(t *testing.T) {
	p := filterProxy(t)

	t.Run("every request at least the delay", func(t *testing.T) {
		start := time.Now()
		code, _, _ := harness.Get(t, p.URL("/delay/all"), nil)
		if took := time.Since(start); code != http.StatusOK || took < 300*time.Millisecond {
			t.Errorf("status %d after %v, want 200 after >= 300ms", code, took)
		}
	})

	t.Run("workers are not blocked", func(t *testing.T) {
		// 40 delayed requests at once on 2 workers: if a delay slept on a
		// worker, the busier one would need >= 20 x 300ms = 6s; through the
		// scheduler they all finish after about 300ms.
		start := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, err := harness.Fetch(p.URL("/delay/all")); err != nil || code != http.StatusOK {
					t.Errorf("status %d, error %v", code, err)
				}
			}()
		}
		// A request on an undelayed route meanwhile is not held behind them.
		time.Sleep(50 * time.Millisecond)
		quick := time.Now()
		harness.Get(t, p.URL("/"), nil)
		if took := time.Since(quick); took > time.Second {
			t.Errorf("undelayed request took %v while delays were pending", took)
		}
		wg.Wait()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("40 concurrent 300ms delays took %v: the delay blocks workers", took)
		}
	})

	t.Run("POST body held during the delay arrives whole", func(t *testing.T) {
		p.Backends[0].Reset()
		body := strings.Repeat("z", 900)
		start := time.Now()
		code, _, _ := post(t, p.URL("/delay/buffer"), body, true)
		took := time.Since(start)
		if code != http.StatusOK || took < 200*time.Millisecond {
			t.Fatalf("status %d after %v, want 200 after >= 200ms", code, took)
		}
		if r := p.Backends[0].Requests(); len(r) != 1 || string(r[0].Body) != body {
			t.Errorf("backend did not get the 900 B body whole")
		}
		code, _, _ = post(t, p.URL("/delay/buffer"), strings.Repeat("z", 2000), true)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("2000 B body on a delayed 1Ki-buffer route: %d, want 413", code)
		}
	})

	t.Run("abort after the delay", func(t *testing.T) {
		// The abort is sent from the scheduler's callback, after the delay.
		start := time.Now()
		code, _, body := harness.Get(t, p.URL("/delay/abort"), nil)
		if took := time.Since(start); code != http.StatusServiceUnavailable || body != "fault filter abort" || took < 200*time.Millisecond {
			t.Errorf("%d %q after %v, want 503 %q after >= 200ms", code, body, took, "fault filter abort")
		}
	})

	t.Run("percentage", func(t *testing.T) {
		// 50% of 80 requests: Binomial(80, 0.5) has sd 4.5; accept 24..56
		// (beyond 3.5 sd), so a correct filter fails about 1 run in 2000.
		const n = 80
		var mu sync.Mutex
		delayed := 0
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				start := time.Now()
				if _, _, err := harness.Fetch(p.URL("/delay/half")); err != nil {
					t.Error(err)
				}
				if time.Since(start) >= 400*time.Millisecond {
					mu.Lock()
					delayed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if delayed < 24 || delayed > 56 {
			t.Errorf("%d of %d requests delayed, want about half (24..56)", delayed, n)
		}
		t.Logf("%d of %d requests delayed at 50%%", delayed, n)
	})
}
