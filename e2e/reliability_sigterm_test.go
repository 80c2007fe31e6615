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
// signal death, no core, no crash in its log. SIGTERM alone stops Envoy at
// once, without draining: what the requests in flight got is recorded.
// After a graceful drain (admin POST /drain_listeners?graceful, with
// --drain-time-s longer than the delays, then SIGTERM) every request sent
// before the drain began is answered 200.
func TestReliabilitySigtermUnderLoad(t *testing.T) {
	t.Run("immediate", func(t *testing.T) {
		r := relProxy(t)
		l := startShutdownLoad(r)
		time.Sleep(1500 * time.Millisecond) // delays are in flight now
		l.mark(1)
		state, took := sigterm(t, r)
		l.stop()
		figure(t, "SIGTERM after 1.5s of load (%d clients, a quarter on 1s delays): %v after %v; requests before it %v, after it %v (0: connection error)",
			shutdownClients, state, took.Round(time.Millisecond), l.phase[0].String(), l.phase[1].String())
		if l.phase[0].get(200) == 0 {
			t.Errorf("no request was served before SIGTERM: the probe had no load")
		}
	})

	t.Run("after a graceful drain", func(t *testing.T) {
		r := relProxy(t, "--drain-time-s", "3", "--drain-strategy", "immediate")
		l := startShutdownLoad(r)
		time.Sleep(1500 * time.Millisecond)
		l.mark(1)
		resp, err := http.Post(r.Envoy.AdminURL("/drain_listeners?graceful"), "text/plain", nil)
		if err != nil {
			t.Fatalf("POST /drain_listeners?graceful: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /drain_listeners?graceful: %d", resp.StatusCode)
		}
		time.Sleep(3 * time.Second) // the drain time: the 1s delays finish
		l.mark(2)
		state, took := sigterm(t, r)
		l.stop()
		figure(t, "drain 3s then SIGTERM (%d clients, a quarter on 1s delays): %v after %v; requests sent before the drain %v (longest %v), during it %v (longest %v), after SIGTERM %v (0: connection error)",
			shutdownClients, state, took.Round(time.Millisecond), l.phase[0].String(), l.slow[0].Round(time.Millisecond),
			l.phase[1].String(), l.slow[1].Round(time.Millisecond), l.phase[2].String())
		if n := l.phase[0].get(200); n == 0 || l.phase[0].String() != (&counts{m: map[int]int{200: n}}).String() {
			t.Errorf("requests sent before the drain: %v, want every one 200", l.phase[0].String())
		}
	})
}

const shutdownClients = 16

// shutdownLoad is shutdownClients clients sending requests until stopped
// (each at most 20,000 and for 30s), tallied by the phase they were sent in.
type shutdownLoad struct {
	mu    sync.Mutex
	cur   int
	phase [3]counts
	slow  [3]time.Duration // the longest request sent in each phase
	stopc chan struct{}
	wg    sync.WaitGroup
}

func startShutdownLoad(r *relEnv) *shutdownLoad {
	l := &shutdownLoad{stopc: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: shutdownClients}}
	for w := range shutdownClients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			path := "/side"
			if w%4 == 0 {
				path = "/delay"
			}
			deadline := time.Now().Add(30 * time.Second)
			for range 20000 {
				select {
				case <-l.stopc:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				l.mu.Lock()
				p := l.cur
				l.mu.Unlock()
				c, t0 := &l.phase[p], time.Now()
				resp, err := client.Get(r.URL(path))
				l.mu.Lock()
				l.slow[p] = max(l.slow[p], time.Since(t0))
				l.mu.Unlock()
				if err != nil {
					c.add(0)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				c.add(resp.StatusCode)
			}
		}()
	}
	return l
}

// mark starts phase p: requests sent from now on count there.
func (l *shutdownLoad) mark(p int) {
	l.mu.Lock()
	l.cur = p
	l.mu.Unlock()
}

func (l *shutdownLoad) stop() {
	time.Sleep(200 * time.Millisecond) // requests sent after the exit fail
	close(l.stopc)
	l.wg.Wait()
}

// sigterm sends SIGTERM to Envoy and checks it exits cleanly by itself.
func sigterm(t *testing.T, r *relEnv) (string, time.Duration) {
	t.Helper()
	t0 := time.Now()
	if err := r.Envoy.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	state, exited := r.Envoy.WaitExit(15 * time.Second)
	took := time.Since(t0)
	if !exited {
		t.Fatalf("envoy still running 15s after SIGTERM")
	}
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
	return state.String(), took
}
