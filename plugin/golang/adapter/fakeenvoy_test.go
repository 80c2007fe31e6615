package adapter

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// fakeEnvoy compiles testdata/fakeenvoy.c, a stand-in for Envoy's golang
// filter at the C level, against the SDK's own api.h.
func fakeEnvoy(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakeenvoy")
	api := filepath.Join(envoyModuleDir(t), "contrib/golang/common/go/api")
	cmd := exec.Command("gcc", "-O1", "-Wall", "-rdynamic", "-I", api, "-o", bin, "testdata/fakeenvoy.c", "-ldl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake Envoy: %v\n%s", err, out)
	}
	return bin
}

// runEnvoy runs a fakeenvoy script against the real libbtp.so. configs are
// JSON btp configs, written as serialized Any(TypedStruct) files the script
// names $0, $1, ...
func runEnvoy(t testing.TB, bin, so string, configs []string, script string) []string {
	t.Helper()
	dir := t.TempDir()
	for i, js := range configs {
		b, err := proto.Marshal(typedStruct(t, js))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "c"+string(rune('0'+i))+".pb")
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		script = strings.ReplaceAll(script, "$"+string(rune('0'+i)), name)
	}
	cmd := exec.Command(bin, so)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fake Envoy: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// contains reports whether out has a line starting with each of want, in order.
func contains(out []string, want ...string) bool {
	i := 0
	for _, line := range out {
		if i < len(want) && strings.HasPrefix(line, want[i]) {
			i++
		}
	}
	return i == len(want)
}

// TestRealLibraryInFakeEnvoy loads the built libbtp.so into a process that
// plays Envoy's part at the C level and drives it through the exported entry
// points Envoy calls: config parse and merge, request and response headers,
// stream completion. This is the real SDK, cgo and all; only Envoy is fake.
// (api.Continue = 2, api.LocalReply = 1, api.Running = 0.)
func TestRealLibraryInFakeEnvoy(t *testing.T) {
	so := buildSO(t)
	bin := fakeEnvoy(t)

	t.Run("filter-level config refused with the field path", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{
			`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Sec"}}]}}}`,
		}, "config filter $0\n")
		if !contains(out, "log 4 failed to parse golang plugin config: btp: rateLimit.local.rules[0].limit.unit: unknown unit \"Sec\"",
			"config 0") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})

	// A refused route config is parsed with success (Envoy's RELEASE_ASSERT
	// would stop the process on 0 when it parses at the first request): its
	// route answers 500 and counts it, logging the field path once; another
	// route under the same filter level serves.
	t.Run("route config refused: its route answers 500, the others serve", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{
			`{"timeout":{"http":{"requestTimeout":"2s"}}}`,
			`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Sec"}}]}}}`,
			`{"retry":{"numRetries":1}}`,
		}, `config filter $0
config route $1
config route $2
merge 1 2
merge 1 3
routename bad-route
header :method GET
decode 4
encode 500
complete 1
header :method GET
decode 4
complete 1
routename good-route
header :method GET
decode 5
encode 200
complete 1
sleep 1100
counters
`)
		want := []string{
			"config 1", "config 2", "config 3", "merged 4", "merged 5",
			`log 4 [http][btp] btp: route "bad-route": its btp config was refused`,
			"reply 500 grpc=2 details=btp_config_invalid body=", "status 1", "status 2", "done",
			"reply 500", "status 1", "done",
			"set x-envoy-upstream-rq-timeout-ms=2000", "status 2", "status 2", "done",
			"counter btp.config.invalid 2",
		}
		if !contains(out, want...) {
			t.Fatalf("output:\n%s\nwant, in order, lines starting with:\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
		}
		var logs []string
		for _, l := range out {
			if strings.HasPrefix(l, "log ") {
				logs = append(logs, l)
			}
		}
		if len(logs) != 1 || !strings.Contains(logs[0], `rateLimit.local.rules[0].limit.unit: unknown unit "Sec"`) {
			t.Errorf("want the field path logged once, got:\n%s", strings.Join(logs, "\n"))
		}
	})

	t.Run("requests", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{
			`{"timeout":{"http":{"requestTimeout":"2s"}}}`,
			`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"type":"Distinct","name":"x-user"}]}],"limit":{"requests":1,"unit":"Hour"}}]}},
			  "responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"statusCode":502,"contentType":"text/plain","body":{"inline":"resting"}}}],
			  "retry":{"numRetries":2,"retryOn":{"triggers":["connect-failure"]}}}`,
		}, `config filter $0
config route $1
merge 1 2
header :method GET
header :path /
header x-user alice
decode 3
encode 200
complete 1
header :method GET
header x-user alice
decode 3
complete 1
header :method GET
header x-user bob
decode 3
encode 503
complete 3
sleep 1100
counters
`)
		want := []string{
			"config 1", "config 2", "merged 3",
			// alice's first request: the timeout header set (straight
			// into Envoy: the SDK's Set would copy every header into Go
			// first), forwarded, rate-limit headers on the response
			"set x-envoy-upstream-rq-timeout-ms=2000",
			"status 2", "set x-ratelimit-limit=1", "set x-ratelimit-remaining=0", "status 2", "done",
			// alice again: 429 with the rate-limit headers
			"reply 429", "status 1", "done",
			// bob: forwarded; the backend's 503 becomes the policy's 502
			"status 2", "reply 502 grpc=14 details=btp_response_override body=resting", "status 1", "done",
			"counter btp.ratelimit.ok",
		}
		if !contains(out, want...) {
			t.Fatalf("output:\n%s\nwant, in order, lines starting with:\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
		}
		for _, c := range []string{"counter btp.ratelimit.ok 2", "counter btp.ratelimit.over_limit 1", "counter btp.override.applied 1", "counter btp.retry.allowed 2"} {
			if !contains(out, c) {
				t.Errorf("missing %q in:\n%s", c, strings.Join(out, "\n"))
			}
		}
		if slices.ContainsFunc(out, func(l string) bool { return strings.HasPrefix(l, "copyheaders") }) {
			t.Errorf("a header map was copied into Go:\n%s", strings.Join(out, "\n"))
		}
		// reading :status and overriding the response copies no headers
		if i := slices.IndexFunc(out, func(l string) bool { return strings.HasPrefix(l, "reply 502") }); i < 1 || out[i-1] != "status 2" {
			t.Errorf("the response path copied headers or did more than answer:\n%s", strings.Join(out, "\n"))
		}
		if !contains(out, "hdr x-ratelimit-limit=1") || !contains(out, "hdr content-type=text/plain") {
			t.Errorf("reply headers missing:\n%s", strings.Join(out, "\n"))
		}
	})

	t.Run("fault delay resumes from a goroutine", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{`{"faultInjection":{"delay":{"fixedDelay":"20ms"}}}`},
			"config filter $0\nheader :method GET\ndecode 1\nsleep 300\ncomplete 1\n")
		if !contains(out, "config 1", "status 0", "continue 2", "done") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})

	t.Run("request buffer refuses a body as it passes the limit", func(t *testing.T) {
		// api.StopAndBufferWatermark = 4: Envoy holds each chunk and hands the next one over
		out := runEnvoy(t, bin, so, []string{`{"requestBuffer":{"limit":"1Ki"}}`},
			"config filter $0\nheader :method POST\ndecodeopen 1\ndata 600 0\ndata 600 0\ncomplete 1\n"+
				"header :method POST\ndecodeopen 1\ndata 600 0\ndata 424 1\ncomplete 1\nsleep 1100\ncounters\n")
		if !contains(out, "config 1", "status 4", "status 4", "reply 413", "status 1", "done",
			"status 4", "status 4", "status 2", "done", "counter btp.buffer.too_large 1") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})

	t.Run("trailers after a held body continue from a goroutine", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{`{"requestBuffer":{"limit":"1Ki"}}`},
			"config filter $0\nheader :method POST\ndecodeopen 1\ndata 100 0\ntrailers\nsleep 200\ncomplete 1\n")
		if !contains(out, "config 1", "status 4", "status 4", "status 0", "continue 2", "done") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})

	t.Run("gRPC abort carries the gRPC status", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{`{"faultInjection":{"abort":{"grpcStatus":8}}}`},
			"config filter $0\nheader :method POST\nheader content-type application/grpc\ndecode 1\ncomplete 1\n")
		if !contains(out, "config 1", "reply 429 grpc=8 details=fault_filter_abort", "status 1", "done") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})

	t.Run("panic answers 500 and the next request is served", func(t *testing.T) {
		out := runEnvoy(t, bin, so, []string{`{"debug":{"panicHeader":"x-boom"}}`},
			"config filter $0\nheader x-boom 1\ndecode 1\ncomplete 1\nheader :method GET\ndecode 1\ncomplete 1\n")
		if !contains(out, "config 1", "log 4 btp: recovered panic", "reply 500", "status 1", "done", "status 2", "done") {
			t.Fatalf("output:\n%s", strings.Join(out, "\n"))
		}
	})
}
