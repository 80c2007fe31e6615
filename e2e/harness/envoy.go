package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Envoy is one running Envoy process on loopback, stopped when the test ends.
type Envoy struct {
	AdminPort int
	LogPath   string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid after done is closed

	pidsOnce sync.Once
	pids     []string // the processes of its group, once it is ready (ConnOwner)
}

// startTimeout bounds how long Envoy may take to become ready.
const startTimeout = 30 * time.Second

// StartEnvoy writes bootstrapYAML to a temp file and runs the pinned Envoy on
// it with the module directory as ENVOY_DYNAMIC_MODULES_SEARCH_PATH. It
// returns once the admin endpoint answers /ready with 200; adminPort must be
// the admin port in the bootstrap. Envoy's log is dumped on test failure.
// args are extra Envoy flags; Envoy runs with --concurrency 2 and
// --drain-time-s 0 unless args set them.
func StartEnvoy(t testing.TB, bootstrapYAML string, adminPort int, args ...string) *Envoy {
	t.Helper()
	e := launch(t, bootstrapYAML, args...)
	e.AdminPort = adminPort
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("envoy log (%s), last lines:\n%s", e.LogPath, tail(e.Log(), 60))
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-e.done:
			t.Fatalf("envoy exited before it was ready (%v); log:\n%s", e.err, tail(e.Log(), 40))
		default:
		}
		if code, _, err := e.Admin("/ready"); err == nil && code == http.StatusOK {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("envoy not ready after %v; log:\n%s", startTimeout, tail(e.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RunEnvoyExpectExit runs Envoy on a bootstrap that must be refused and
// returns its log once it exits. The test fails if Envoy is still running
// after the timeout (it was accepted) or exits with status 0.
func RunEnvoyExpectExit(t testing.TB, bootstrapYAML string) string {
	t.Helper()
	e := launch(t, bootstrapYAML)
	t.Cleanup(e.Stop)
	select {
	case <-e.done:
	case <-time.After(startTimeout):
		t.Fatalf("envoy still running after %v: the bootstrap was accepted; log:\n%s", startTimeout, tail(e.Log(), 40))
	}
	if e.err == nil {
		t.Fatalf("envoy exited with status 0; log:\n%s", tail(e.Log(), 40))
	}
	return e.Log()
}

func launch(t testing.TB, bootstrapYAML string, args ...string) *Envoy {
	t.Helper()
	bin := EnvoyBinary(t)
	modDir := ModuleDir(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(cfg, []byte(bootstrapYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "envoy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"-c", cfg, "--use-dynamic-base-id", "--log-level", "warning", "--parent-shutdown-time-s", "1"}
	if !slices.Contains(args, "--drain-time-s") {
		argv = append(argv, "--drain-time-s", "0")
	}
	if !slices.Contains(args, "--concurrency") {
		argv = append(argv, "--concurrency", "2")
	}
	cmd := exec.Command(bin, append(argv, args...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=cgocheck=0", "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+modDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so Stop reaches anything Envoy's wrapper started;
	// and die with the test binary if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start envoy %s: %v", bin, err)
	}
	e := &Envoy{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		e.err = cmd.Wait()
		logf.Close()
		close(e.done)
	}()
	return e
}

// Stop stops Envoy (SIGTERM to its process group, SIGKILL after 5s) and
// waits for it to exit, so its log is complete. Stopping twice is a no-op.
func (e *Envoy) Stop() {
	select {
	case <-e.done:
		return
	default:
	}
	pgid := e.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.done
	}
}

// Running reports whether the Envoy process is still alive.
func (e *Envoy) Running() bool {
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

// Log is everything Envoy has written so far.
func (e *Envoy) Log() string {
	b, _ := os.ReadFile(e.LogPath)
	return string(b)
}

var adminClient = &http.Client{Timeout: 5 * time.Second}

// Admin GETs path on the admin port and returns status code and body.
func (e *Envoy) Admin(path string) (int, string, error) {
	resp, err := adminClient.Get("http://127.0.0.1:" + strconv.Itoa(e.AdminPort) + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Stats returns Envoy's counters and gauges (admin /stats) by name.
func (e *Envoy) Stats(t testing.TB) map[string]int64 {
	t.Helper()
	code, body, err := e.Admin("/stats")
	if err != nil || code != http.StatusOK {
		t.Fatalf("admin /stats: %d %v", code, err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// Stat returns one counter or gauge; it fails the test when it does not exist.
func (e *Envoy) Stat(t testing.TB, name string) int64 {
	t.Helper()
	s := e.Stats(t)
	v, ok := s[name]
	if !ok {
		t.Fatalf("stat %q not found in /stats", name)
	}
	return v
}

// WaitStat polls until the stat satisfies ok or the timeout passes, and
// returns the last value seen.
func (e *Envoy) WaitStat(t testing.TB, name string, timeout time.Duration, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, found := e.Stats(t)[name]
		if found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("stat %q: condition not met within %v (last value %d, present %v)", name, timeout, v, found)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort returns a port that was free a moment ago on every address (Envoy
// binds listeners to 0.0.0.0). It is drawn from below the kernel's ephemeral
// range (32768+), so the many client connections the tests open cannot take
// it between this check and Envoy's bind (seen once as "Address already in
// use" when the kernel picked the port).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errNotFound marks a missing tool.
var errNotFound = errors.New("not found")

func firstExecutable(cands ...string) (string, error) {
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w among %q", errNotFound, cands)
}

// Get is a tiny helper for the common case: GET url with headers, returning
// status, response headers and body. Network errors fail the test.
func Get(t testing.TB, url string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return Do(t, req)
}

// Do sends req with Client and returns status, headers and body. Network
// errors fail the test.
func Do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	return DoWith(t, Client, req)
}

// DoWith is Do with another client (e.g. ClientFrom).
func DoWith(t testing.TB, c *http.Client, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	io.Copy(&buf, resp.Body)
	return resp.StatusCode, resp.Header, buf.String()
}

// Fetch GETs url with Client and reports errors instead of failing the
// test, for goroutines other than the test's own (which must not call
// t.Fatal).
func Fetch(url string) (int, http.Header, error) {
	resp, err := Client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, err
}

// Client is the HTTP client tests use to talk to Envoy: no proxy from the
// environment, a generous timeout so slow cases fail instead of hanging.
var Client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
}

// ClientFrom is an HTTP client whose connections leave from source IP ip
// (any 127.x.y.z works on Linux loopback), for rules keyed on the client
// address.
func ClientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConnsPerHost: 16},
	}
}
