package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
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
)

// The real parts behind rateLimit.global, on loopback: redis-server (Debian's
// package) and the envoyproxy/ratelimit service built with `go install` at the
// version pinned in build/ratelimit-version. Both are stopped when the test
// ends, failed or not, and their logs are dumped on failure. A missing
// redis-server or a failed build fails the test (no skip): `make e2e`
// installs and builds them.

// RateLimitModule is the envoyproxy/ratelimit service's main package.
const RateLimitModule = "github.com/envoyproxy/ratelimit/src/service_cmd"

// daemon is a process of the test in its own process group, stopped when
// the test ends.
type daemon struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

func startDaemon(t testing.TB, name, logPath string, env []string, bin string, args ...string) *daemon {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s (%s): %v", name, bin, err)
	}
	d := &daemon{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	return d
}

// kill stops the process group with sig (SIGKILL after 5s) and waits.
func (d *daemon) kill(sig syscall.Signal) {
	select {
	case <-d.done:
		return
	default:
	}
	syscall.Kill(-d.cmd.Process.Pid, sig)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// waitFor polls ready until it is true, the process exits, or 30s pass.
func (d *daemon) waitFor(t testing.TB, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !ready() {
		if d.exited() {
			t.Fatalf("%s exited before %s; log:\n%s", d.name, what, tail(d.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s after %v; log:\n%s", d.name, what, startTimeout, tail(d.log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Redis is a redis-server on 127.0.0.1 with persistence off.
type Redis struct {
	Port int
	bin  string
	dir  string
	d    *daemon
}

// StartRedis starts redis-server ($BTP_REDIS_SERVER, else redis-server on
// PATH) on a free loopback port.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := os.Getenv("BTP_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Fatal("no redis-server on PATH: run `make e2e` (installs Debian's redis-server as root) or `apt-get install -y redis-server`, or set BTP_REDIS_SERVER")
		}
	}
	r := &Redis{Port: FreePort(t), bin: bin, dir: t.TempDir()}
	r.start(t)
	t.Cleanup(func() {
		r.d.kill(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("redis-server log, last lines:\n%s", tail(r.d.log(), 30))
		}
	})
	return r
}

func (r *Redis) start(t testing.TB) {
	t.Helper()
	r.d = startDaemon(t, "redis-server", filepath.Join(r.dir, "redis.log"), []string{"PATH=" + os.Getenv("PATH")}, r.bin,
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--logfile", "")
	r.d.waitFor(t, "answering PING", func() bool {
		out, err := r.do("PING")
		return err == nil && out == "+PONG"
	})
}

// Addr is 127.0.0.1:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Kill stops redis-server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() { r.d.kill(syscall.SIGKILL) }

// Restart starts redis-server again on the same port, empty.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Kill()
	r.start(t)
}

// Do sends one inline command and returns the first line of the reply.
func (r *Redis) Do(t testing.TB, cmd string) string {
	t.Helper()
	out, err := r.do(cmd)
	if err != nil {
		t.Fatalf("redis %s: %v", cmd, err)
	}
	return out
}

func (r *Redis) do(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// RateLimitService is the envoyproxy/ratelimit service on loopback, reading
// its config from files (a directory `btp render --ratelimit-config` wrote)
// and counting in a Redis.
type RateLimitService struct {
	GRPCPort, HTTPPort, DebugPort, MetricsPort int
	d                                          *daemon
}

// NewRateLimitService picks the service's free loopback ports, so its URL
// can be rendered into a bootstrap before it starts.
func NewRateLimitService(t testing.TB) *RateLimitService {
	t.Helper()
	return &RateLimitService{GRPCPort: FreePort(t), HTTPPort: FreePort(t), DebugPort: FreePort(t), MetricsPort: FreePort(t)}
}

// Start copies the YAML files of configDir to the directory the service
// loads (RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config, not watched) and starts
// the service against redis. It returns once the service answers its health
// check and has loaded every domain in domains.
func (s *RateLimitService) Start(t testing.TB, redis *Redis, configDir string, domains ...string) {
	t.Helper()
	bin := RateLimitBinary(t)
	root := t.TempDir()
	dst := filepath.Join(root, "rls", "config")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(configDir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("rate limit service config %s: no *.yaml files", configDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		// Its counters on a Prometheus endpoint (Metrics), the only sink
		// that needs no other process.
		"USE_STATSD=false",
		"USE_PROMETHEUS=true",
		"PROMETHEUS_ADDR=127.0.0.1:" + strconv.Itoa(s.MetricsPort),
		"STATS_FLUSH_INTERVAL=100ms",
		"LOG_LEVEL=warn",
		"BACKEND_TYPE=redis",
		"REDIS_SOCKET_TYPE=tcp",
		"REDIS_URL=" + redis.Addr(),
		"RUNTIME_ROOT=" + root,
		"RUNTIME_SUBDIRECTORY=rls",
		"RUNTIME_APPDIRECTORY=config",
		"RUNTIME_WATCH_ROOT=false",
		"RUNTIME_IGNOREDOTFILES=true",
		"HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(s.HTTPPort),
		"DEBUG_HOST=127.0.0.1",
		"DEBUG_PORT=" + strconv.Itoa(s.DebugPort),
		"GRPC_HOST=127.0.0.1",
		"GRPC_PORT=" + strconv.Itoa(s.GRPCPort),
	}
	s.d = startDaemon(t, "ratelimit", filepath.Join(root, "ratelimit.log"), env, bin)
	t.Cleanup(func() {
		s.d.kill(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("ratelimit service log, last lines:\n%s", tail(s.d.log(), 40))
		}
	})
	s.d.waitFor(t, "healthy with its config loaded", func() bool {
		if code, _ := httpGet(s.httpURL("/healthcheck")); code != http.StatusOK {
			return false
		}
		_, cfg := httpGet(s.debugURL("/rlconfig"))
		for _, d := range domains {
			if !strings.Contains(cfg, d+".") {
				return false
			}
		}
		return cfg != ""
	})
}

// URL is the service's gRPC address as `btp render --ratelimit-url` takes it.
func (s *RateLimitService) URL() string { return "grpc://127.0.0.1:" + strconv.Itoa(s.GRPCPort) }

// Config is the service's own dump of the limits it loaded (/rlconfig).
func (s *RateLimitService) Config(t testing.TB) string {
	t.Helper()
	code, body := httpGet(s.debugURL("/rlconfig"))
	if code != http.StatusOK {
		t.Fatalf("ratelimit /rlconfig: status %d", code)
	}
	return body
}

// Metrics is the service's Prometheus text: its counters, e.g.
// ratelimit_service_rate_limit_shadow_mode per descriptor.
func (s *RateLimitService) Metrics(t testing.TB) string {
	t.Helper()
	code, body := httpGet("http://127.0.0.1:" + strconv.Itoa(s.MetricsPort) + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("ratelimit /metrics: status %d", code)
	}
	return body
}

// Counter sums the service's counter metric over the series whose labels
// contain label (e.g. a descriptor key), once its metrics are flushed
// (every 100ms): it polls for up to 5s until the sum is want, and returns
// the last sum.
func (s *RateLimitService) Counter(t testing.TB, metric, label string, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sum int64
		for _, line := range strings.Split(s.Metrics(t), "\n") {
			series, val, ok := strings.Cut(line, " ")
			if !ok || !strings.HasPrefix(series, metric+"{") || !strings.Contains(series, label) {
				continue
			}
			if n, err := strconv.ParseFloat(val, 64); err == nil {
				sum += int64(n)
			}
		}
		if sum == want || time.Now().After(deadline) {
			return sum
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is what the service has logged so far.
func (s *RateLimitService) Log() string { return s.d.log() }

func (s *RateLimitService) httpURL(p string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.HTTPPort) + p
}

func (s *RateLimitService) debugURL(p string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.DebugPort) + p
}

func httpGet(url string) (int, string) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	rlsOnce sync.Once
	rlsBin  string
	rlsErr  error
)

// RateLimitBinary is the envoyproxy/ratelimit service: $BTP_RATELIMIT, or
// built once with `go install` at the pinned version into
// build/out/ratelimit/VERSION/ (the Go build cache makes a rebuild a
// few seconds).
func RateLimitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BTP_RATELIMIT"); p != "" {
		bin, err := firstExecutable(p)
		if err != nil {
			t.Fatalf("BTP_RATELIMIT=%s: %v (run `make ratelimit`)", p, err)
		}
		return bin
	}
	root := RepoRoot(t)
	rlsOnce.Do(func() {
		v, err := os.ReadFile(filepath.Join(root, "build", "ratelimit-version"))
		if err != nil {
			rlsErr = err
			return
		}
		ver := strings.TrimSpace(string(v))
		gobin := filepath.Join(root, "build", "out", "ratelimit", ver)
		cmd := exec.Command("go", "install", RateLimitModule+"@"+ver)
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			rlsErr = fmt.Errorf("go install %s@%s: %v\n%s", RateLimitModule, ver, err, out)
			return
		}
		rlsBin = filepath.Join(gobin, filepath.Base(RateLimitModule))
	})
	if rlsErr != nil {
		t.Fatal(rlsErr)
	}
	return rlsBin
}
