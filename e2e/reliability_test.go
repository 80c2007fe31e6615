package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// The reliability probes (TestReliability*, docs/reliability.md) attack a
// real Envoy with the module on 2 workers, loopback only. Each is bounded
// in count and time. BTP_RELIABILITY=full (make reliability) runs them at
// the sizes; otherwise they run small, in seconds, in make e2e.
var relFull = os.Getenv("BTP_RELIABILITY") == "full"

// scale picks the short or the full count of a probe.
func scale(short, full int) int {
	if relFull {
		return full
	}
	return short
}

// figure logs a probe's measured figure, greppable for docs/reliability.md
// (`go test -v ... | grep 'figure '`).
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figure %s: %s", t.Name(), fmt.Sprintf(format, args...))
}

// relEnv is Envoy on testdata/reliability.bootstrap.yaml in front of a
// hashing backend.
type relEnv struct {
	*harness.Proxy
	be *hashBackend
}

func relProxy(t *testing.T, envoyArgs ...string) *relEnv {
	t.Helper()
	be := startHashBackend(t)
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"BackendPort": be.port}
	boot := harness.Execute(t, "testdata/reliability.bootstrap.yaml", v)
	for name, addrs := range harness.ClusterAddrs(t, boot) {
		for _, a := range addrs {
			if ap, err := netip.ParseAddrPort(a); err != nil || !ap.Addr().IsLoopback() {
				t.Fatalf("cluster %s: address %s is outside loopback", name, a)
			}
		}
	}
	e := harness.StartEnvoy(t, boot, v.AdminPort, envoyArgs...)
	return &relEnv{Proxy: &harness.Proxy{Envoy: e, Port: v.Port, Bootstrap: boot}, be: be}
}

// addr is Envoy's listener host:port.
func (r *relEnv) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// alive asserts what every probe ends with: Envoy still running, /ready
// answering 200, a plain request served, and no crash in its log.
func alive(t *testing.T, e *harness.Envoy, url string) {
	t.Helper()
	if !e.Running() {
		state, _ := e.WaitExit(time.Second)
		t.Fatalf("envoy exited: %v", state)
	}
	if !e.Ready() {
		t.Fatal("envoy admin /ready does not answer 200")
	}
	if code, _, err := harness.Fetch(url); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s after the probe: %d %v, want 200", url, code, err)
	}
	if crashed, why := harness.Crashed(nil, e.Log()); crashed {
		t.Fatalf("envoy log shows a crash: %s", why)
	}
}

// hashBackend answers every request with the sha256 of the body it got
// (x-body-sha256) and counts bodies that do not match the client's own
// hash (x-want-sha256): the body floods check integrity at the backend.
// It keeps no bodies.
type hashBackend struct {
	port       int
	srv        *http.Server
	requests   atomic.Int64
	mismatches atomic.Int64
}

func startHashBackend(t *testing.T) *hashBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &hashBackend{port: ln.Addr().(*net.TCPAddr).Port}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *hashBackend) serve(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	b.requests.Add(1)
	sum := hex.EncodeToString(h.Sum(nil))
	if want := r.Header.Get("x-want-sha256"); want != "" && (want != sum || err != nil) {
		b.mismatches.Add(1)
	}
	w.Header().Set("x-body-sha256", sum)
	w.Header().Set("x-body-bytes", fmt.Sprint(n))
	io.WriteString(w, "ok\n")
}

// rssSampler samples Envoy's RSS every 100ms until stop.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	base  int64
	peak  atomic.Int64
}

func sampleRSS(t *testing.T, e *harness.Envoy) *rssSampler {
	t.Helper()
	base, err := e.RSS()
	if err != nil {
		t.Fatalf("envoy RSS: %v", err)
	}
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{}), base: base}
	s.peak.Store(base)
	go func() {
		defer close(s.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-tk.C:
				if v, err := e.RSS(); err == nil && v > s.peak.Load() {
					s.peak.Store(v)
				}
			}
		}
	}()
	return s
}

// stop ends sampling and returns the baseline and peak RSS in MiB.
func (s *rssSampler) stop() (base, peak float64) {
	close(s.stopc)
	<-s.done
	return float64(s.base) / (1 << 20), float64(s.peak.Load()) / (1 << 20)
}

// onConn sends the requests one after another on one keep-alive
// connection (Envoy does not answer more than two pipelined HTTP/1.1
// requests) and returns the status of each. The connection leaves from
// local (nil: any) and every read and write is bounded by deadline.
func onConn(addr string, local net.Addr, reqs [][]byte, deadline time.Time) ([]int, error) {
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	br := bufio.NewReaderSize(c, 16<<10)
	codes := make([]int, 0, len(reqs))
	for _, r := range reqs {
		if _, err := c.Write(r); err != nil {
			return codes, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return codes, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	return codes, nil
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 16<<10) }

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// counts tallies status codes.
type counts struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *counts) add(codes ...int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int]int{}
	}
	for _, code := range codes {
		c.m[code]++
	}
	c.mu.Unlock()
}

func (c *counts) get(code int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[code]
}

func (c *counts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}
