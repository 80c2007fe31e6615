package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// rateLimit.global with the real parts, on loopback: two Envoys rendered by
// `btp render` from testdata/ratelimit-global.yaml.tmpl share one
// envoyproxy/ratelimit service (build/ratelimit-version, Envoy Gateway
// v1.9.1's) counting in one redis-server. Envoy 0 fails open (Envoy
// Gateway's default), Envoy 1 is rendered with --ratelimit-fail-closed. Each
// test has its own Redis, so counters never carry over between tests.

const globalFixture = "testdata/ratelimit-global.yaml.tmpl"

// globalDomains are the fixture's rate limit domains: the Gateway
// listener's and the shared rule's policy's.
var globalDomains = []string{"default/gw/http", "default/shared"}

type globalRig struct {
	app    *harness.Backend
	redis  *harness.Redis
	rls    *harness.RateLimitService
	envoys [2]*harness.Proxy // 0: fail open, 1: fail closed
	// rendered is the service config btp wrote (identical for both Envoys).
	rendered string
}

// upGlobal renders and starts both Envoys and starts the service on
// serviceConfig, a directory of service config files ("" = the one btp
// rendered). The service timeout is 1s, not Envoy's 20ms default: on a busy
// CI machine a late answer would count as a failure and let a request
// through (fail open), which the exact counts below would see as flakiness.
func upGlobal(t *testing.T, serviceConfig string) *globalRig {
	t.Helper()
	g := &globalRig{app: harness.StartBackend(t, "app"), redis: harness.StartRedis(t), rls: harness.NewRateLimitService(t)}
	var dirs [2]string
	for i, extra := range [][]string{nil, {"--ratelimit-fail-closed"}} {
		v := harness.NewVars(t, []*harness.Backend{g.app})
		dirs[i] = t.TempDir()
		boot := harness.RenderWith(t, harness.Execute(t, globalFixture, v), v.AdminPort,
			append([]string{"--ratelimit-url", g.rls.URL(), "--ratelimit-config", dirs[i], "--ratelimit-timeout", "1s"}, extra...)...)
		checkGlobalBootstrap(t, boot, g.rls.GRPCPort, i == 1)
		g.envoys[i] = &harness.Proxy{Envoy: harness.StartEnvoy(t, boot, v.AdminPort), Port: v.Port, Backends: []*harness.Backend{g.app}, Bootstrap: boot}
	}
	if a, b := readConfigDir(t, dirs[0]), readConfigDir(t, dirs[1]); a != b {
		t.Fatalf("the two renders wrote different service configs:\n%s\n---\n%s", a, b)
	}
	g.rendered = dirs[0]
	if serviceConfig == "" {
		serviceConfig = g.rendered
	}
	g.rls.Start(t, g.redis, serviceConfig, globalDomains...)
	return g
}

// checkGlobalBootstrap: the rate limit cluster is the loopback service,
// every cluster address is on loopback, and the failure mode is as rendered.
func checkGlobalBootstrap(t *testing.T, boot string, grpcPort int, failClosed bool) {
	t.Helper()
	addrs := harness.ClusterAddrs(t, boot)
	if got, want := addrs["ratelimit_cluster"], []string{"127.0.0.1:" + strconv.Itoa(grpcPort)}; !slices.Equal(got, want) {
		t.Fatalf("ratelimit_cluster addresses %v, want %v", got, want)
	}
	for name, as := range addrs {
		for _, a := range as {
			if !strings.HasPrefix(a, "127.") {
				t.Fatalf("cluster %s: address %s is outside loopback", name, a)
			}
		}
	}
	// One ratelimit filter per domain, each with the failure mode.
	want := 0
	if failClosed {
		want = len(globalDomains)
	}
	if got := strings.Count(boot, "failure_mode_deny: true"); got != want {
		t.Fatalf("failure_mode_deny: true appears %d times, want %d", got, want)
	}
}

func readConfigDir(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var b strings.Builder
	for _, f := range files {
		c, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "# %s\n%s", filepath.Base(f), c)
	}
	return b.String()
}

// req is one request: which Envoy, path, Host (optional) and headers.
type req struct {
	envoy      int
	path, host string
	hdr        map[string]string
}

func (g *globalRig) send(t *testing.T, r req) (int, http.Header) {
	t.Helper()
	hr, err := http.NewRequest(http.MethodGet, g.envoys[r.envoy].URL(r.path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	for k, v := range r.hdr {
		hr.Header.Set(k, v)
	}
	code, h, _ := harness.Do(t, hr)
	return code, h
}

// admits sends m requests (next(i) says which) and requires the first n to
// be admitted and the rest refused with 429, with the x-ratelimit-* headers
// Envoy's ratelimit filter adds for Envoy Gateway (draft 03: limit
// "N, N;w=60", remaining counting down to 0, reset within the minute; no
// x-envoy-ratelimited), and refused requests never reaching the backend.
func (g *globalRig) admits(t *testing.T, n, m int, next func(i int) req) {
	t.Helper()
	hits := g.app.Hits()
	for i := range m {
		r := next(i)
		code, h := g.send(t, r)
		want, remaining := http.StatusOK, strconv.Itoa(n-i-1)
		if i >= n {
			want, remaining = http.StatusTooManyRequests, "0"
		}
		where := fmt.Sprintf("request %d of %d (envoy %d, %s %v)", i+1, m, r.envoy, r.path, r.hdr)
		if code != want {
			t.Fatalf("%s: status %d, want %d (%d admitted of %d expected)", where, code, want, n, m)
		}
		checkXRateLimit(t, where, h, n, remaining)
	}
	if got := g.app.Hits() - hits; got != int64(n) {
		t.Errorf("backend saw %d requests, want the %d admitted", got, n)
	}
}

func checkXRateLimit(t *testing.T, where string, h http.Header, limit int, remaining string) {
	t.Helper()
	if got, want := h.Get("x-ratelimit-limit"), fmt.Sprintf("%d, %d;w=60", limit, limit); got != want {
		t.Errorf("%s: x-ratelimit-limit %q, want %q", where, got, want)
	}
	if got := h.Get("x-ratelimit-remaining"); got != remaining {
		t.Errorf("%s: x-ratelimit-remaining %q, want %q", where, got, remaining)
	}
	if reset, err := strconv.Atoi(h.Get("x-ratelimit-reset")); err != nil || reset < 1 || reset > 60 {
		t.Errorf("%s: x-ratelimit-reset %q, want 1..60 seconds", where, h.Get("x-ratelimit-reset"))
	}
	if v := h.Values("x-envoy-ratelimited"); len(v) > 0 {
		t.Errorf("%s: x-envoy-ratelimited %q, want none (Envoy Gateway disables it)", where, v)
	}
}

// unlimited sends m requests that no rule matches: all admitted, without
// x-ratelimit-* headers (no descriptor is sent for them).
func (g *globalRig) unlimited(t *testing.T, m int, next func(i int) req) {
	t.Helper()
	for i := range m {
		r := next(i)
		code, h := g.send(t, r)
		if code != http.StatusOK {
			t.Fatalf("request %d (envoy %d, %s %v): status %d, want 200", i+1, r.envoy, r.path, r.hdr, code)
		}
		if v := h.Get("x-ratelimit-limit"); v != "" {
			t.Errorf("request %d (envoy %d, %s %v): x-ratelimit-limit %q, want none", i+1, r.envoy, r.path, r.hdr, v)
		}
	}
}

// inOneMinute waits for the next minute when the current one has less than
// 10s left: the service counts per calendar minute, and a sequence that
// straddles two would be admitted twice.
func inOneMinute(t *testing.T) {
	now := time.Now()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < 10*time.Second {
		t.Logf("%v left in this minute: waiting for the next", left.Round(time.Millisecond))
		time.Sleep(left + 100*time.Millisecond)
	}
}

func alternate(path, host string, hdr map[string]string) func(int) req {
	return func(i int) req { return req{envoy: i % 2, path: path, host: host, hdr: hdr} }
}

// checkGlobalLimits runs every kind of rule of the fixture across both
// Envoys, alternating between them: the counts hold only if both share the
// service's counters.
func checkGlobalLimits(t *testing.T, g *globalRig) {
	t.Run("DistinctHeader", func(t *testing.T) {
		inOneMinute(t)
		// 3 per minute per x-user value: alice gets 3 of 8, bob his own 3.
		g.admits(t, 3, 8, alternate("/distinct", "", map[string]string{"x-user": "alice"}))
		g.admits(t, 3, 4, alternate("/distinct", "", map[string]string{"x-user": "bob"}))
		// Without the header the descriptor is not sent: no limit.
		g.unlimited(t, 5, alternate("/distinct", "", nil))
	})
	t.Run("ExactHeader", func(t *testing.T) {
		inOneMinute(t)
		// x-plan: free shares 2 per minute; other plans are not limited.
		g.admits(t, 2, 6, alternate("/exact", "exact.example", map[string]string{"x-plan": "free"}))
		g.unlimited(t, 4, alternate("/exact", "exact.example", map[string]string{"x-plan": "paid"}))
	})
	t.Run("WholeRoute", func(t *testing.T) {
		inOneMinute(t)
		g.admits(t, 4, 7, alternate("/whole", "", nil))
	})
	t.Run("ShadowMode", func(t *testing.T) {
		inOneMinute(t)
		// Never refused, but counted: remaining reaches 0 after 2.
		hits := g.app.Hits()
		for i := range 6 {
			r := alternate("/shadow", "", nil)(i)
			code, h := g.send(t, r)
			if code != http.StatusOK {
				t.Fatalf("request %d (envoy %d): status %d, want 200 (shadowMode never refuses)", i+1, r.envoy, code)
			}
			checkXRateLimit(t, fmt.Sprintf("request %d (envoy %d)", i+1, r.envoy), h, 2, strconv.Itoa(max(2-i-1, 0)))
		}
		if got := g.app.Hits() - hits; got != 6 {
			t.Errorf("backend saw %d requests, want 6", got)
		}
		// The service counted the 4 over the limit as shadow-mode hits.
		if got := g.rls.Counter(t, "ratelimit_service_rate_limit_shadow_mode", "httproute/default/shadow/", 4); got != 4 {
			t.Errorf("service shadow_mode counter for /shadow = %d, want 4", got)
		}
	})
	t.Run("SharedAcrossRoutes", func(t *testing.T) {
		inOneMinute(t)
		// One counter of 3 for both routes, on both Envoys: requests go
		// shared-a, shared-b, shared-a, ... over Envoy 0, 0, 1, 1, 0, 0.
		g.admits(t, 3, 6, func(i int) req {
			return req{envoy: (i / 2) % 2, path: []string{"/shared-a", "/shared-b"}[i%2]}
		})
	})
	t.Run("NoPolicy", func(t *testing.T) {
		g.unlimited(t, 5, alternate("/open", "", nil))
	})
}

// statSum adds up every counter whose name ends in suffix (Envoy's
// ratelimit filter counts per route cluster: cluster.C.ratelimit.*).
func statSum(t *testing.T, e *harness.Envoy, suffix string) int64 {
	t.Helper()
	var n int64
	for name, v := range e.Stats(t) {
		if strings.HasSuffix(name, suffix) {
			n += v
		}
	}
	return n
}

func TestGlobalRateLimitService(t *testing.T) {
	g := upGlobal(t, "")
	checkGlobalLimits(t, g)

	t.Run("RedisDown", func(t *testing.T) {
		g.redis.Kill()
		// /whole is over its limit; with Redis gone the service cannot
		// answer. Fail open (the default): admitted, no x-ratelimit-*.
		allowed := statSum(t, g.envoys[0].Envoy, ".ratelimit.failure_mode_allowed")
		for i := range 3 {
			code, h := g.send(t, req{envoy: 0, path: "/whole"})
			if code != http.StatusOK || h.Get("x-ratelimit-limit") != "" {
				t.Fatalf("fail open, request %d: status %d x-ratelimit-limit %q, want 200 and none", i+1, code, h.Get("x-ratelimit-limit"))
			}
		}
		if got := statSum(t, g.envoys[0].Envoy, ".ratelimit.failure_mode_allowed") - allowed; got != 3 {
			t.Errorf("fail open: ratelimit.failure_mode_allowed rose by %d, want 3", got)
		}
		// Fail closed: refused with 500, and the backend never sees them.
		hits := g.app.Hits()
		for i, path := range []string{"/whole", "/distinct", "/shared-a"} {
			hdr := map[string]string{"x-user": "dave"}
			if code, _ := g.send(t, req{envoy: 1, path: path, hdr: hdr}); code != http.StatusInternalServerError {
				t.Fatalf("fail closed, request %d (%s): status %d, want 500", i+1, path, code)
			}
		}
		if got := g.app.Hits() - hits; got != 0 {
			t.Errorf("fail closed: backend saw %d requests, want 0", got)
		}
		if got := statSum(t, g.envoys[1].Envoy, ".ratelimit.error"); got < 3 {
			t.Errorf("fail closed: ratelimit.error %d, want at least 3", got)
		}
		// A route without a limit never asks the service.
		g.unlimited(t, 2, func(int) req { return req{envoy: 1, path: "/open"} })
	})

	t.Run("RedisBack", func(t *testing.T) {
		g.redis.Restart(t) // empty: persistence is off
		// The service reconnects on its own, each pooled connection after
		// one failed call: wait until the fail-closed Envoy has been answered
		// 25 times in a row (more than the pool's 10 connections), a fresh
		// x-user value each time.
		deadline := time.Now().Add(20 * time.Second)
		for i, ok := 0, 0; ok < 25; i++ {
			code, _ := g.send(t, req{envoy: 1, path: "/distinct", hdr: map[string]string{"x-user": "probe-" + strconv.Itoa(i)}})
			if ok++; code != http.StatusOK {
				ok = 0
				if time.Now().After(deadline) {
					t.Fatalf("rate limit service still failing 20s after Redis came back (last status %d); service log:\n%s", code, g.rls.Log())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		inOneMinute(t)
		// Limits resume, counting from zero in the new Redis.
		g.admits(t, 4, 6, alternate("/whole", "", nil))
		g.admits(t, 3, 5, alternate("/distinct", "", map[string]string{"x-user": "carol"}))
	})
}

// A service config written the Envoy Gateway way limits btp's routes:
// testdata/eg-ratelimit-service/ is what Envoy Gateway v1.9.1's translator
// writes for the same fixture (written from internal/xds/translator/
// ratelimit.go, in the layout of its testdata/out/ratelimit-config, not by
// btp), loaded into the real service behind the same two Envoys. Every kind
// of rule limits exactly as with btp's own config; and the service, which
// ignores Envoy Gateway's extra fields, reads the same limits from both.
func TestGlobalRateLimitEnvoyGatewayServiceConfig(t *testing.T) {
	g := upGlobal(t, "testdata/eg-ratelimit-service")
	own := harness.NewRateLimitService(t)
	own.Start(t, g.redis, g.rendered, globalDomains...)
	sorted := func(dump string) []string {
		lines := strings.Split(strings.TrimSpace(dump), "\n")
		slices.Sort(lines)
		return lines
	}
	eg, btp := sorted(g.rls.Config(t)), sorted(own.Config(t))
	if !slices.Equal(eg, btp) {
		t.Errorf("the service loads different limits from Envoy Gateway's config and btp's:\nEnvoy Gateway's:\n%s\nbtp's:\n%s", strings.Join(eg, "\n"), strings.Join(btp, "\n"))
	}
	if len(eg) != 5 {
		t.Errorf("the service loaded %d limits from Envoy Gateway's config, want the fixture's 5:\n%s", len(eg), strings.Join(eg, "\n"))
	}
	checkGlobalLimits(t, g)
}
