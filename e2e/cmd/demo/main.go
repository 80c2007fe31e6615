// Command demo is the quick start behind `make demo`: it runs the example
// bootstrap (rendered from examples/ by `btp render --host dynamic-module`)
// in a real Envoy with libbtp_module.so, starts the example's three
// backends on 127.0.0.1:18081-18083, shows a rate-limited request and an
// overridden response, and stops everything. It never runs longer than
// -timeout.
//
//	demo -c build/out/demo-envoy.yaml -envoy .venv/bin/envoy -modules build/out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg := flag.String("c", "build/out/demo-envoy.yaml", "rendered bootstrap")
	envoy := flag.String("envoy", os.Getenv("BTP_ENVOY"), "envoy binary (default $BTP_ENVOY)")
	modules := flag.String("modules", os.Getenv("BTP_MODULE_DIR"), "directory holding libbtp_module.so (default $BTP_MODULE_DIR)")
	listen := flag.String("listen", "127.0.0.1:10080", "the example Gateway's listener")
	admin := flag.String("admin", "127.0.0.1:19000", "Envoy's admin address in the bootstrap")
	timeout := flag.Duration("timeout", 60*time.Second, "stop everything after this long")
	flag.Parse()
	if err := run(*cfg, *envoy, *modules, *listen, *admin, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(cfg, envoy, modules, listen, admin string, timeout time.Duration) error {
	if envoy == "" || modules == "" {
		return errors.New("need -envoy and -modules (or BTP_ENVOY and BTP_MODULE_DIR); `make demo` sets them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// The example's Backends: catalog, checkout, checkout-canary.
	for i, name := range []string{"catalog", "checkout", "checkout-canary"} {
		stop, err := backend(fmt.Sprintf("127.0.0.1:%d", 18081+i), name)
		if err != nil {
			return err
		}
		defer stop()
	}

	logf, err := os.CreateTemp("", "btp-demo-envoy-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(logf.Name())
	defer logf.Close()
	// SIGTERM does not drain (docs/bootstrap.md): the demo stops Envoy with
	// the admin drain first, over a drain time kept short for the demo.
	drain := []string{"--drain-time-s", "1", "--drain-strategy", "immediate"}
	cmd := exec.CommandContext(ctx, envoy, append([]string{"-c", cfg, "--use-dynamic-base-id", "--concurrency", "2", "--log-level", "warning"}, drain...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=cgocheck=0", "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+modules)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	fmt.Printf("$ GODEBUG=cgocheck=0 ENVOY_DYNAMIC_MODULES_SEARCH_PATH=%s %s -c %s %s\n", modules, envoy, cfg, strings.Join(drain, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		drainEnvoy(admin, exited)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		fmt.Println("\nstopped Envoy and the backends")
	}()
	if err := waitReady(ctx, admin, exited); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("%w\nenvoy log:\n%s", err, log)
	}
	fmt.Println("Envoy is ready; the btp module is loaded")

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	base := "http://" + listen

	fmt.Println("\n# 1. Local rate limit: the catalog allows 20 requests per second per client address")
	var limited *http.Response
	var limitedBody string
	before := map[int]int{}
	for i := 1; i <= 30 && limited == nil; i++ {
		resp, body, err := get(ctx, c, base+"/items/42", "shop.example.com")
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			limited, limitedBody = resp, body
			fmt.Printf("the %d requests before it were answered (status: count) %v; request %d:\n", i-1, before, i)
		} else {
			before[resp.StatusCode]++
		}
	}
	if limited == nil {
		return errors.New("30 quick requests were never rate limited")
	}
	show(limited, limitedBody)

	fmt.Println("\n# 2. Response override: the catalog's 5xx becomes the configured 503 JSON")
	direct, directBody, err := get(ctx, c, "http://127.0.0.1:18081/items/fail", "")
	if err != nil {
		return err
	}
	fmt.Printf("the backend itself answers %d %q\n", direct.StatusCode, strings.TrimSpace(directBody))
	time.Sleep(1100 * time.Millisecond) // a fresh rate-limit second
	resp, body, err := get(ctx, c, base+"/items/fail", "shop.example.com")
	if err != nil {
		return err
	}
	fmt.Println("through Envoy:")
	show(resp, body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("override: got %d, want 503", resp.StatusCode)
	}

	fmt.Println("\n# 3. The filter's counters in Envoy's stats")
	stats, err := fetch(ctx, c, "http://"+admin+"/stats?filter=^btp%5C.")
	if err != nil {
		return err
	}
	fmt.Print(stats)
	return nil
}

// backend is an example backend: it answers with its name, fails with 500
// on paths ending in /fail, and answers /healthz for the health checks.
func backend(addr, name string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend %s on %s: %w", name, addr, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-backend", name)
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(w, name+" failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s: %s %s\n", name, r.Method, r.URL.Path)
	})}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// drainEnvoy is the graceful stop of docs/bootstrap.md before the
// SIGTERM: fail the health check, drain the listeners, wait out the drain
// time and the requests in flight (bounded: 5 s).
func drainEnvoy(admin string, exited <-chan error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	fmt.Printf("\n# stopping: POST %[1]s/healthcheck/fail and %[1]s/drain_listeners?graceful, then SIGTERM once no request is in flight\n", admin)
	for _, p := range []string{"/healthcheck/fail", "/drain_listeners?graceful"} {
		if resp, err := c.Post("http://"+admin+p, "text/plain", nil); err == nil {
			resp.Body.Close()
		}
	}
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		select {
		case <-exited:
			return
		case <-time.After(200 * time.Millisecond):
		}
		// The listeners' connection managers (http-PORT), not the admin's.
		resp, err := c.Get("http://" + admin + "/stats?filter=^http%5C.http-.*%5C.downstream_rq_active$")
		if err != nil {
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if time.Since(start) >= time.Second && allZero(string(body)) { // the drain time is over, nothing in flight
			return
		}
	}
}

// allZero reports whether every stat line of an admin /stats answer is 0.
func allZero(stats string) bool {
	for _, l := range strings.Split(strings.TrimSpace(stats), "\n") {
		if l != "" && !strings.HasSuffix(l, ": 0") {
			return false
		}
	}
	return true
}

func waitReady(ctx context.Context, admin string, exited <-chan error) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("envoy exited: %v", err)
		case <-ctx.Done():
			return errors.New("envoy not ready in time")
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := c.Get("http://" + admin + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

func get(ctx context.Context, c *http.Client, url, host string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func fetch(ctx context.Context, c *http.Client, url string) (string, error) {
	_, body, err := get(ctx, c, url, "")
	return body, err
}

func show(resp *http.Response, body string) {
	fmt.Printf("  HTTP %s\n", resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "Date" {
			continue
		}
		fmt.Printf("  %s: %s\n", strings.ToLower(k), strings.Join(resp.Header[k], ", "))
	}
	fmt.Printf("  %s\n", strings.TrimSpace(body))
}
