package e2e

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// tcpEcho is a loopback TCP backend that reads the PROXY protocol v1 line
// Envoy sends first, records it, then echoes every line back.
type tcpEcho struct {
	ln      net.Listener
	mu      sync.Mutex
	headers []string
}

func startTCPEcho(t *testing.T) *tcpEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &tcpEcho{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go e.serve(c)
		}
	}()
	return e
}

func (e *tcpEcho) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	h, err := r.ReadString('\n')
	if err != nil {
		return
	}
	e.mu.Lock()
	e.headers = append(e.headers, strings.TrimRight(h, "\r\n"))
	e.mu.Unlock()
	io.Copy(c, r)
}

func (e *tcpEcho) port() int { return e.ln.Addr().(*net.TCPAddr).Port }

func (e *tcpEcho) proxyHeaders() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.headers...)
}

// echoOnce writes a line on c and reads it back.
func echoOnce(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(got, "\n"), err
}

// A TCPRoute through a real Envoy, with its policy's L4 fields enforced:
// the backend receives Envoy Gateway's PROXY protocol v1 header for the
// client's connection, and while one connection is open the circuit
// breaker (maxConnections: 1) refuses a second one upstream
// (upstream_cx_overflow), which works again once the first closes.
func TestTCPRoute(t *testing.T) {
	echo := startTCPEcho(t)
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"echoPort": echo.port()}
	boot := harness.Render(t, harness.Execute(t, "testdata/tcproute.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	if !strings.Contains(boot, "envoy.filters.network.tcp_proxy") {
		t.Fatalf("no tcp_proxy in the bootstrap:\n%s", boot)
	}
	envoy := harness.StartEnvoy(t, boot, v.AdminPort)
	addr := "127.0.0.1:" + strconv.Itoa(v.Port)

	first, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if got, err := echoOnce(first, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo through Envoy: %q, %v; want hello", got, err)
	}
	h := echo.proxyHeaders()
	if len(h) != 1 || !strings.HasPrefix(h[0], "PROXY TCP4 127.0.0.1 127.0.0.1 ") || !strings.HasSuffix(h[0], " "+strconv.Itoa(v.Port)) {
		t.Errorf("backend got PROXY headers %q, want one v1 header for the client's connection to port %d", h, v.Port)
	}

	cluster := "cluster.tcproute/default/echo/rule/-1.upstream_cx_overflow"
	second, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := echoOnce(second, "second"); err == nil {
		t.Errorf("second connection echoed %q while the first is open, want it refused (maxConnections: 1)", got)
	}
	second.Close()
	envoy.WaitStat(t, cluster, 5*time.Second, func(n int64) bool { return n >= 1 })

	first.Close()
	// The breaker frees once Envoy sees the first upstream connection close.
	var got string
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err = echoOnce(c, "again")
		c.Close()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "again" {
		t.Errorf("after the first connection closed: echo %q, want again", got)
	}
}
