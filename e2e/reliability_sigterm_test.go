package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Probe 8: SIGTERM while requests are in flight (plain ones and 1s fault
// delays held by the module). Envoy exits by itself with status 0, no
// signal death, no core, no crash in its log. What the in-flight requests
// got is recorded: Envoy stops without draining (docs/reliability.md).
func TestReliabilitySigtermUnderLoad(t *testing.T) {
	r := relProxy(t)
	const conc = 16
	perWorker := scale(200, 2000)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conc}}
	var before, after counts // outcomes of requests sent before / after SIGTERM
	var termAt time.Time
	var mu sync.Mutex
	sent := func(t0 time.Time) *counts {
		mu.Lock()
		defer mu.Unlock()
		if termAt.IsZero() || t0.Before(termAt) {
			return &before
		}
		return &after
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/side"
			if w%4 == 0 {
				path = "/delay"
			}
			for range perWorker {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := client.Get(r.URL(path))
				if err != nil {
					sent(t0).add(0)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sent(t0).add(resp.StatusCode)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond) // delays are in flight now
	mu.Lock()
	termAt = time.Now()
	mu.Unlock()
	if err := r.Envoy.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	state, exited := r.Envoy.WaitExit(15 * time.Second)
	exitTook := time.Since(termAt)
	time.Sleep(200 * time.Millisecond) // requests sent after the exit fail
	close(stop)
	wg.Wait()
	if !exited {
		t.Fatalf("envoy still running 15s after SIGTERM")
	}
	figure(t, "SIGTERM after 1.5s of load (%d clients, a quarter on 1s delays): exit %v after %v; requests before it %v, after it %v (0: connection error)",
		conc, state, exitTook.Round(time.Millisecond), before.String(), after.String())
	ws := state.Sys().(syscall.WaitStatus)
	if !state.Success() || ws.Signaled() || ws.CoreDump() {
		t.Errorf("envoy exited with %v (signaled %v, core %v), want status 0", state, ws.Signaled(), ws.CoreDump())
	}
	log := r.Envoy.Log()
	if crashed, why := harness.Crashed(state, log); crashed {
		t.Errorf("envoy crashed on SIGTERM: %s", why)
	}
	if !strings.Contains(log, "caught ENVOY_SIGTERM") {
		t.Errorf("envoy log does not show the SIGTERM")
	}
	if before.get(200) == 0 {
		t.Errorf("no request was served before SIGTERM: the probe had no load")
	}
}
