package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// What docs/bootstrap.md ("Stopping Envoy without cutting requests") says
// of Envoy 1.40, proven: SIGTERM cuts a request in flight whatever
// --drain-time-s says; the admin drain (healthcheck/fail, then
// drain_listeners?graceful) lets it finish, asks clients to close, stops
// accepting after --drain-time-s, and a SIGTERM after it cuts nothing.
func TestEnvoyStopAndDrain(t *testing.T) {
	drainFlags := []string{"--drain-time-s", "1", "--drain-strategy", "immediate"}
	start := func(t *testing.T, be *harness.Backend) (*harness.Envoy, harness.Vars) {
		v := harness.NewVars(t, []*harness.Backend{be})
		// /route is answered by the module (418) without the backend.
		boot := typedStructBootstrap(t, v, "xds.type.v3.TypedStruct", `{}`, `{faultInjection: {abort: {httpStatus: 418}}}`)
		return harness.StartEnvoy(t, boot, v.AdminPort, drainFlags...), v
	}
	// inFlight starts a GET that the stalled backend holds and returns its
	// outcome once it ends (bounded by the client's 10 s timeout).
	inFlight := func(t *testing.T, v harness.Vars, be *harness.Backend) <-chan string {
		out := make(chan string, 1)
		go func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/slow", v.Port))
			if err != nil {
				out <- "error"
				return
			}
			resp.Body.Close()
			out <- strconv.Itoa(resp.StatusCode)
		}()
		for deadline := time.Now().Add(5 * time.Second); be.InFlight() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the request never reached the backend")
			}
		}
		return out
	}
	post := func(t *testing.T, v harness.Vars, path string) {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", v.AdminPort, path), "text/plain", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}

	t.Run("SIGTERM cuts the request in flight", func(t *testing.T) {
		be := harness.StartBackend(t, "be")
		e, v := start(t, be)
		be.Stall()
		defer be.Release()
		got := inFlight(t, v, be)
		e.Stop() // SIGTERM
		if r := <-got; r != "error" {
			t.Errorf("request in flight at SIGTERM ended %s, want cut (no response)", r)
		}
		if !strings.Contains(e.Log(), "caught ENVOY_SIGTERM") {
			t.Errorf("envoy log lacks the SIGTERM")
		}
	})

	t.Run("admin drain, then SIGTERM", func(t *testing.T) {
		be := harness.StartBackend(t, "be")
		e, v := start(t, be)
		be.Stall()
		got := inFlight(t, v, be)
		post(t, v, "/healthcheck/fail")
		if code, _, _ := e.Admin("/ready"); code != http.StatusServiceUnavailable {
			t.Errorf("/ready after healthcheck/fail: %d, want 503", code)
		}
		post(t, v, "/drain_listeners?graceful")
		// During the drain a new connection is served, and told to close.
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(v.Port), 2*time.Second)
		if err != nil {
			t.Fatalf("new connection during the drain: %v", err)
		}
		fmt.Fprintf(c, "GET /route HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != http.StatusTeapot || !resp.Close {
			t.Errorf("request during the drain: %v %v; want 418 with connection: close", resp, err)
		}
		// After --drain-time-s the listener refuses new connections
		// (bounded wait: 10 s).
		refused := false
		for deadline := time.Now().Add(10 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(v.Port), time.Second)
			if err != nil {
				refused = true
				break
			}
			c.Close()
		}
		if !refused {
			t.Errorf("listener still accepts 10 s after a 1 s graceful drain")
		}
		// The request in flight outlives the drain time and completes.
		be.Release()
		if r := <-got; r != "200" {
			t.Errorf("request in flight through the drain ended %s, want 200", r)
		}
		if !e.Running() {
			t.Fatal("envoy exited after the drain; it should wait for the SIGTERM")
		}
		if n := e.Stat(t, "http.main.downstream_rq_active"); n != 0 {
			t.Errorf("http.main.downstream_rq_active = %d after the drain, want 0", n)
		}
		e.Stop()
	})
}
