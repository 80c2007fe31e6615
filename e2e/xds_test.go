package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// TestXDSServe: one real Envoy started from `btp render --xds` takes its
// config from `btp serve` (state of the world, then delta); a request
// passes, an edit of the file changes /limited's local rate limit and the
// new limit is enforced without a restart; a bad edit leaves Envoy serving
// the last good version while /status shows the error; fixing the file
// pushes again.
func TestXDSServe(t *testing.T) {
	for _, mode := range []string{"sotw", "delta"} {
		t.Run(mode, func(t *testing.T) { testXDSServe(t, mode == "delta") })
	}
}

func testXDSServe(t *testing.T, delta bool) {
	bs := harness.StartBackends(t, "be", 1)
	v := harness.NewVars(t, bs)
	dir := t.TempDir()
	in := filepath.Join(dir, "resources.yaml")
	write := func(limit int, unit string) {
		t.Helper()
		v.Values = map[string]any{"limit": limit, "unit": unit, "extra": false}
		writeAtomicFile(t, in, harness.Execute(t, "testdata/xds.yaml.tmpl", v))
	}
	write(1000, "Hour")

	// Every cluster btp would serve for this input is on loopback.
	static := harness.Render(t, harness.Execute(t, "testdata/xds.yaml.tmpl", v), v.AdminPort)
	harness.Loopback(t, static, map[string]*harness.Backend{bs[0].Addr(): bs[0]})

	srv := startServe(t, in)
	srv.waitStatus(t, "version 1", func(s serveStatus) bool { return s.Version == "1" })

	args := []string{"render", "--xds", "grpc://" + srv.xdsAddr, "--node-id", "e2e-" + t.Name(), "--admin-port", strconv.Itoa(v.AdminPort)}
	if delta {
		args = append(args, "--delta")
	}
	boot, err := exec.Command(harness.BtpBinary(t), args...).Output()
	if err != nil {
		t.Fatalf("btp render --xds: %v", err)
	}
	// The xDS bootstrap's only static cluster is the server, on loopback.
	for name, addrs := range harness.ClusterAddrs(t, string(boot)) {
		if name != "btp-xds" || len(addrs) != 1 || addrs[0] != srv.xdsAddr {
			t.Fatalf("xDS bootstrap cluster %s: %v, want only btp-xds at %s", name, addrs, srv.xdsAddr)
		}
	}
	e := harness.StartEnvoy(t, string(boot), v.AdminPort, "--drain-strategy", "gradual")
	node := "e2e-" + t.Name()
	srv.waitStatus(t, "Envoy acked version 1", func(s serveStatus) bool { return s.acked(node, "1") })

	url := "http://127.0.0.1:" + strconv.Itoa(v.Port)
	if code, _, _ := harness.Get(t, url+"/limited", nil); code != http.StatusOK {
		t.Fatalf("GET /limited with a limit of 1000/hour: %d, want 200", code)
	}

	// The edit: 2 per hour. Envoy enforces it without a restart.
	write(2, "Hour")
	srv.waitStatus(t, "Envoy acked version 2", func(s serveStatus) bool { return s.Version == "2" && s.acked(node, "2") })
	codes := statuses(t, url+"/limited", 4)
	if want := []int{200, 200, 429, 429}; !equalInts(codes, want) {
		t.Fatalf("after the edit to 2/hour: %v, want %v", codes, want)
	}
	if code, _, _ := harness.Get(t, url+"/other", nil); code != http.StatusOK {
		t.Fatalf("GET /other (unchanged policy): %d, want 200", code)
	}

	// The bad edit never reaches Envoy: version 2 stays, the limit with it.
	write(5, "Fortnight")
	st := srv.waitStatus(t, "the refused edit", func(s serveStatus) bool { return s.Error != "" })
	if st.Version != "2" || !strings.Contains(st.Error, `spec.rateLimit.local.rules[0].limit.unit: unsupported value "Fortnight"`) {
		t.Fatalf("status after the bad edit: version %s, error %q", st.Version, st.Error)
	}
	if code, _, _ := harness.Get(t, url+"/limited", nil); code != http.StatusTooManyRequests {
		t.Fatalf("GET /limited after the bad edit: %d, want 429 (version 2's limit still enforced)", code)
	}
	if out, err := exec.Command(harness.BtpBinary(t), "status", "--server", "http://"+srv.statusAddr).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "Fortnight") || !strings.Contains(string(out), "name: limited") {
		t.Fatalf("btp status --server during the bad edit: %v\n%s", err, out)
	}

	// Fixed: version 3, a fresh limit.
	write(3, "Minute")
	srv.waitStatus(t, "Envoy acked version 3", func(s serveStatus) bool { return s.Version == "3" && s.Error == "" && s.acked(node, "3") })
	if codes := statuses(t, url+"/limited", 4); !equalInts(codes, []int{200, 200, 200, 429}) {
		t.Fatalf("after the fix to 3/minute: %v", codes)
	}
	// The HCM names its routes over RDS: route edits never touched the listener.
	if n := e.Stat(t, "listener_manager.listener_modified"); n != 0 {
		t.Errorf("listener_manager.listener_modified = %d, want 0 (only RDS changed)", n)
	}
	log := srv.log()
	for _, want := range []string{
		"btp serve: version 2: 1 listeners, 1 routes, 2 clusters, 2 endpoints; changed: route default/gw/http",
		"btp serve: version 3 acked by 1/1 Envoys (" + node + ")",
		"btp serve: refused (still serving version 2):",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("btp serve's log lacks %q:\n%s", want, log)
		}
	}
}

// serveProc is a running `btp serve`.
type serveProc struct {
	xdsAddr, statusAddr string
	cmd                 *exec.Cmd
	mu                  sync.Mutex
	stderr              bytes.Buffer
}

func (p *serveProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startServe runs `btp serve --host dynamic-module` on files, on free
// loopback ports, stopped when the test ends.
func startServe(t *testing.T, files ...string) *serveProc {
	t.Helper()
	p := &serveProc{
		xdsAddr:    "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)),
		statusAddr: "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)),
	}
	args := []string{"serve", "--host", "dynamic-module", "--xds-addr", p.xdsAddr, "--status-addr", p.statusAddr}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	p.cmd = exec.Command(harness.BtpBinary(t), args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("btp serve log:\n%s", p.log())
		}
	})
	return p
}

type serveStatus struct {
	Version string `json:"version"`
	Error   string `json:"error"`
	Nodes   map[string]struct {
		Connected bool              `json:"connected"`
		Acked     map[string]string `json:"acked"`
		Nacked    map[string]string `json:"nacked"`
	} `json:"nodes"`
}

// acked: node acked version for the listeners and the routes (the types
// every push of this test changes or resends).
func (s serveStatus) acked(node, version string) bool {
	n, ok := s.Nodes[node]
	if !ok || !n.Connected {
		return false
	}
	return n.Acked["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"] == version
}

// waitStatus polls GET /status until ok, for at most 10 s.
func (p *serveProc) waitStatus(t *testing.T, what string, ok func(serveStatus) bool) serveStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last serveStatus
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.statusAddr + "/status")
		if err == nil {
			last = serveStatus{}
			err = json.NewDecoder(resp.Body).Decode(&last)
			resp.Body.Close()
			if err == nil && ok(last) {
				return last
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("btp serve: no %s within 10s; last status %+v\nlog:\n%s", what, last, p.log())
	return last
}

// statuses sends n sequential GETs and returns their status codes.
func statuses(t *testing.T, url string, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		out[i], _, _ = harness.Get(t, url, nil)
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeAtomicFile replaces path as editors do: a temporary file renamed
// over it.
func writeAtomicFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestXDSNewRouteNo503: a route to a backend of its own appears and then
// goes under a request loop on its path; every answer is the 404 of no
// route or the backend's 200, never the 503 of a route whose cluster the
// Envoy does not have (btp serve sends clusters before the routes that use
// them, and keeps them after the routes stopped naming them).
func TestXDSNewRouteNo503(t *testing.T) {
	bs := harness.StartBackends(t, "be", 2)
	v := harness.NewVars(t, bs)
	in := filepath.Join(t.TempDir(), "resources.yaml")
	write := func(extra bool) {
		t.Helper()
		v.Values = map[string]any{"limit": 100000, "unit": "Hour", "extra": extra}
		writeAtomicFile(t, in, harness.Execute(t, "testdata/xds.yaml.tmpl", v))
	}
	v.Values = map[string]any{"limit": 100000, "unit": "Hour", "extra": true}
	harness.Loopback(t, harness.Render(t, harness.Execute(t, "testdata/xds.yaml.tmpl", v), v.AdminPort),
		map[string]*harness.Backend{bs[0].Addr(): bs[0], bs[1].Addr(): bs[1]})
	write(false)
	srv := startServe(t, in)
	srv.waitStatus(t, "version 1", func(s serveStatus) bool { return s.Version == "1" })
	boot, err := exec.Command(harness.BtpBinary(t), "render", "--xds", "grpc://"+srv.xdsAddr, "--node-id", "n503", "--admin-port", strconv.Itoa(v.AdminPort)).Output()
	if err != nil {
		t.Fatalf("btp render --xds: %v", err)
	}
	harness.StartEnvoy(t, string(boot), v.AdminPort)
	srv.waitStatus(t, "Envoy acked version 1", func(s serveStatus) bool { return s.acked("n503", "1") })

	url := "http://127.0.0.1:" + strconv.Itoa(v.Port) + "/new"
	var mu sync.Mutex
	counts := map[string]int{}
	last := ""
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() { // bounded: 20,000 requests or 20 s, whichever first
		defer close(loopDone)
		c := &http.Client{Timeout: 5 * time.Second}
		end := time.Now().Add(20 * time.Second)
		for i := 0; i < 20000 && time.Now().Before(end); i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := ""
			if resp, err := c.Get(url); err != nil {
				k = "error: " + err.Error()
			} else {
				resp.Body.Close()
				k = strconv.Itoa(resp.StatusCode)
			}
			mu.Lock()
			counts[k]++
			last = k
			mu.Unlock()
		}
	}()
	seen := func(want string) bool {
		mu.Lock()
		defer mu.Unlock()
		return last == want
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("no %s within 10s", what)
	}
	waitUntil("404 before the route exists", func() bool { return seen("404") })
	write(true)
	waitUntil("200 once the route exists", func() bool { return seen("200") })
	time.Sleep(200 * time.Millisecond)
	write(false)
	waitUntil("404 once the route is gone", func() bool { return seen("404") })
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-loopDone
	t.Logf("GET /new while the route came and went: %v", counts)
	for k, n := range counts {
		if k != "200" && k != "404" {
			t.Errorf("%d answers %q: want only 200 and 404", n, k)
		}
	}
	if counts["200"] == 0 || counts["404"] == 0 {
		t.Errorf("answers %v: want both 200 and 404", counts)
	}
}
