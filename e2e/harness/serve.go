package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
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

// Serve is `btp serve` run as a subprocess on loopback ports that stay the
// same across Kill and Start, so the Envoys pointed at it reconnect to the
// restarted server. It is killed when the test ends; its stderr (every run's)
// is dumped on test failure.
type Serve struct {
	XDSPort, StatusPort int

	args []string

	mu       sync.Mutex
	stderr   strings.Builder
	runStart int // where the current run's stderr starts
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartServe runs `btp serve -f F... --xds-addr --status-addr` plus flags on
// fresh ports and waits until its status endpoint answers.
func StartServe(t testing.TB, files []string, flags ...string) *Serve {
	t.Helper()
	s := &Serve{XDSPort: FreePort(t), StatusPort: FreePort(t)}
	s.args = []string{"serve"}
	for _, f := range files {
		s.args = append(s.args, "-f", f)
	}
	s.args = append(s.args, "--xds-addr", "127.0.0.1:"+strconv.Itoa(s.XDSPort),
		"--status-addr", "127.0.0.1:"+strconv.Itoa(s.StatusPort))
	s.args = append(s.args, flags...)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("btp serve stderr, last lines:\n%s", tail(s.Log(), 60))
		}
	})
	s.Start(t)
	return s
}

// Start (re)starts the server on its ports and waits until /status answers.
func (s *Serve) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(BtpBinary(t), s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("btp %s: %v", strings.Join(s.args, " "), err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.runStart = cmd, done, s.stderr.Len()
	s.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			t.Fatalf("btp serve exited before its status endpoint answered; stderr:\n%s", tail(s.Log(), 40))
		default:
		}
		if _, err := s.Status(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("btp serve: status endpoint not answering after %v; stderr:\n%s", startTimeout, tail(s.Log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL, as a crash would) and waits for it
// to exit. Killing a stopped server is a no-op.
func (s *Serve) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Kill()
	<-done
}

// Log is the server's stderr so far, every run's.
func (s *Serve) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// ServeStatus is the JSON of GET /status.
type ServeStatus struct {
	Version  string                `json:"version"`
	Error    string                `json:"error"`
	Nodes    map[string]NodeStatus `json:"nodes"`
	Policies json.RawMessage       `json:"policies"`
}

// NodeStatus is what the server knows of one Envoy (by node id): whether
// it is connected, the version it acked and nacked per type URL.
type NodeStatus struct {
	Connected bool              `json:"connected"`
	Acked     map[string]string `json:"acked"`
	Nacked    map[string]string `json:"nacked"`
	Error     string            `json:"error"`
}

// AckedBy reports whether the server's current run logged that every
// connected Envoy acked version, nodes among them: `btp serve: version N
// acked by K/K Envoys (id, ...)`, printed once each of them acked all it was
// sent up to N (over delta ADS only what changed is sent, so /status's
// per-type versions differ).
func (s *Serve) AckedBy(version string, nodes []string) bool {
	s.mu.Lock()
	run := s.stderr.String()[s.runStart:]
	s.mu.Unlock()
	prefix := "btp serve: version " + version + " acked by "
	for _, line := range strings.Split(run, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		_, ids, ok := strings.Cut(rest, " Envoys (")
		if !ok {
			continue
		}
		acked := strings.Split(strings.TrimSuffix(ids, ")"), ", ")
		if !slices.ContainsFunc(nodes, func(n string) bool { return !slices.Contains(acked, n) }) {
			return true
		}
	}
	return false
}

var statusClient = &http.Client{Timeout: 5 * time.Second}

// Status fetches GET /status.
func (s *Serve) Status() (ServeStatus, error) {
	var st ServeStatus
	resp, err := statusClient.Get("http://127.0.0.1:" + strconv.Itoa(s.StatusPort) + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %d %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("GET /status: %v: %s", err, b)
	}
	return st, nil
}

// WaitStatus polls /status until ok holds or timeout passes, and returns the
// last status; the test fails on timeout.
func (s *Serve) WaitStatus(t testing.TB, timeout time.Duration, what string, ok func(ServeStatus) bool) ServeStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Status()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("btp serve: %s not within %v (err %v), last status:\n%s", what, timeout, err, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// XDSBootstrap renders the bootstrap an Envoy starts from to fetch
// everything from the server: node id, ADS on the server's xDS port, admin on
// adminPort; flags are more `btp render --xds` flags (--delta).
func (s *Serve) XDSBootstrap(t testing.TB, nodeID string, adminPort int, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "envoy-xds.yaml")
	cmd := exec.Command(BtpBinary(t), append([]string{"render", "--xds", "grpc://127.0.0.1:" + strconv.Itoa(s.XDSPort),
		"--node-id", nodeID, "--admin-port", strconv.Itoa(adminPort), "-o", out}, flags...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("btp render --xds: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
