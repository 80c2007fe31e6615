package adapter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// nativeCases are the per-request paths BENCHMARKS.md ("Native cost",
// golang host) measures through the real libbtp.so in the C stand-in:
// the issue 12 policies, one request each (headers, response, completion).
var nativeCases = []struct {
	name, route string
}{
	{"no-config", ""},
	{"ratelimit", `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"type":"Distinct","name":"x-user-id"}]}],"limit":{"requests":1000000000,"unit":"Hour"}}]}}}`},
	{"all-five", `{"requestBuffer":{"limit":"1Mi"},
	  "faultInjection":{"delay":{"fixedDelay":"1ms","percentage":0.01},"abort":{"httpStatus":503,"percentage":0.01}},
	  "rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"type":"Distinct","value":"0.0.0.0/0"}}],"limit":{"requests":1000000000,"unit":"Hour"}}]}},
	  "responseOverride":[{"match":{"statusCodes":[{"type":"Range","range":{"start":500,"end":599}}]},"response":{"statusCode":503}}],
	  "retry":{"numRetries":2,"retryOn":{"httpStatusCodes":[503]}}}`},
}

// nativeScript is one request of a case, as Envoy would drive it: a
// browser-like request, a 200 response, completion.
func nativeScript(routed bool, n int) string {
	id := "1"
	if routed {
		id = "3"
	}
	req := "header :method GET\nheader :path /api/items?page=2\nheader :authority shop.example.com\nheader :scheme http\n" +
		"header user-agent curl/8.5.0\nheader accept */*\nheader x-user-id alice\n"
	return fmt.Sprintf("repeat %d\n%sdecode %s\nencode 200\ncomplete 1\nend\n", n, req, id)
}

var benchLine = regexp.MustCompile(`^bench \d+ ns/req=([0-9.]+) go->c=([0-9.]+) c->go=([0-9.]+)$`)

// nativeRun runs n requests of a case against so and returns ns/request,
// crossings Go->C and C->Go per request, and the per-API call counts.
func nativeRun(t testing.TB, bin, so, route string, n int) (ns, goC, cGo float64, calls []string) {
	t.Helper()
	configs := []string{`{}`}
	script := "config filter $0\n"
	if route != "" {
		configs = append(configs, route)
		script += "config route $1\nmerge 1 2\n"
	}
	out := runEnvoy(t, bin, so, configs, script+nativeScript(route != "", n))
	for _, l := range out {
		if m := benchLine.FindStringSubmatch(l); m != nil {
			ns, _ = strconv.ParseFloat(m[1], 64)
			goC, _ = strconv.ParseFloat(m[2], 64)
			cGo, _ = strconv.ParseFloat(m[3], 64)
		} else if strings.HasPrefix(l, "calls ") {
			calls = append(calls, strings.TrimPrefix(l, "calls "))
		}
	}
	if ns == 0 {
		t.Fatalf("no bench line in:\n%s", strings.Join(out, "\n"))
	}
	return ns, goC, cGo, calls
}

// baselineSO builds libbtp.so from the revision in BTP_GOLANG_BASELINE
// (git archive into a temp dir; the work tree is not touched), or "".
func baselineSO(t testing.TB) string {
	rev := os.Getenv("BTP_GOLANG_BASELINE")
	if rev == "" {
		return ""
	}
	baseline.Do(func() { baseline.path = buildBaseline(t, rev) })
	return baseline.path
}

var baseline struct {
	sync.Once
	path string
}

func buildBaseline(t testing.TB, rev string) string {
	dir, err := os.MkdirTemp("", "btp-baseline-")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	arch := exec.Command("sh", "-c", "git archive "+rev+" | tar -x -C "+src)
	arch.Dir = "../../.."
	if out, err := arch.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	so := filepath.Join(dir, "libbtp.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./plugin/golang")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the baseline .so: %v\n%s", err, out)
	}
	return so
}

// BenchmarkNativeCost: ns per request through the real exports of the built
// libbtp.so, driven by the C stand-in for Envoy, and the crossings each
// request makes (Go->C: calls into the golang filter's C API; C->Go: the
// library's exports Envoy calls). With BTP_GOLANG_BASELINE=<rev> the same
// cases run against the .so built from that revision, interleaved, in the
// same run. Read ns/req (the stand-in's own clock around the requests), not
// ns/op (which includes starting the process).
//
//	BTP_GOLANG_BASELINE=<rev> go test -run '^$' -bench NativeCost -benchtime 20000x -count 5 ./plugin/golang/adapter
func BenchmarkNativeCost(b *testing.B) {
	bin := fakeEnvoy(b)
	sos := [][2]string{{"new", buildSO(b)}}
	if old := baselineSO(b); old != "" {
		sos = [][2]string{{"old", old}, sos[0]}
	}
	for _, c := range nativeCases {
		for _, so := range sos {
			b.Run(c.name+"/"+so[0], func(b *testing.B) {
				ns, goC, cGo, _ := nativeRun(b, bin, so[1], c.route, b.N)
				b.ReportMetric(ns, "ns/req")
				b.ReportMetric(goC, "go->c/req")
				b.ReportMetric(cGo, "c->go/req")
			})
		}
	}
}

// TestCrossingsPerRequest: the calls one request makes between the built
// library and Envoy (counted by the C stand-in) are what its route's config
// needs and no more: nothing on a route without btp config; the header a
// rule names, the three x-ratelimit-* writes; and for the
// issue's all five, also content-type (a gRPC request gets gRPC-shaped
// overrides), :status (an override may match), the source address. No
// counter crosses per request: counts reach Envoy once a second.
// (Envoy calls in four times per request whatever the filter does; the
// SDK's GC finalizers are left out: when they run is the GC's business.)
func TestCrossingsPerRequest(t *testing.T) {
	so, bin := buildSO(t), fakeEnvoy(t)
	want := map[string]string{
		"no-config": "",
		"ratelimit": "envoyGoFilterHttpGetHeader 1.00, envoyGoFilterHttpSetHeaderHelper 3.00",
		"all-five":  "envoyGoFilterHttpGetHeader 2.00, envoyGoFilterHttpGetStringValue 1.00, envoyGoFilterHttpSetHeaderHelper 3.00",
	}
	for _, c := range nativeCases {
		// faults that never fire, so every request takes the same path
		route := strings.ReplaceAll(c.route, `"percentage":0.01`, `"percentage":0`)
		_, _, cGo, calls := nativeRun(t, bin, so, route, 200)
		calls = slices.DeleteFunc(calls, func(c string) bool {
			// counters reach Envoy once a second, not per request
			return strings.HasPrefix(c, "envoyGoFilterHttpFinalize ") || strings.HasPrefix(c, "envoyGoFilterLogLevel ") ||
				strings.HasPrefix(c, "envoyGoFilterHttpIncrementMetric 0.0")
		})
		if got := strings.Join(calls, ", "); got != want[c.name] || cGo != 4 {
			t.Errorf("%s: per request Envoy called in %.2f times (want 4), the library called out: %q, want %q", c.name, cGo, got, want[c.name])
		}
	}
}
