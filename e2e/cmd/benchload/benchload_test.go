package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A short benchload run of every default configuration (the floors built
// here): each starts, answers, and enforces exactly its policy's features
// before it is measured (run fails otherwise, see checkPolicy), and every
// measured request, closed loop and at the fixed rate, is answered 200. It
// asserts nothing about timings, only that the report has every row and
// target and that -o writes the same report.
func TestBenchloadSmoke(t *testing.T) {
	floor := t.TempDir()
	root := harness.RepoRoot(t)
	for _, b := range [][]string{
		{"-o", filepath.Join(floor, "sdk", harness.ModuleFile), "./e2e/cmd/benchload/floor"},
		{"-tags", "btpfloor", "-o", filepath.Join(floor, "abi", harness.ModuleFile), "./plugin/dynmod"},
	} {
		cmd := exec.Command("go", append([]string{"build", "-buildmode=c-shared"}, b...)...)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=1")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", b, err, msg)
		}
	}
	var out bytes.Buffer
	file := filepath.Join(t.TempDir(), "report.md")
	o := options{
		envoy: harness.EnvoyBinary(t), modules: harness.ModuleDir(t), btp: harness.BtpBinary(t), floor: floor,
		configs:  defaultConfigs,
		requests: 200, warmup: 20, rounds: 1, conns: 2,
		openRounds: 1, openRate: 0.2, openFor: 200 * time.Millisecond, openConns: 4,
		roundLimit: time.Minute, limit: 5 * time.Minute,
		port:   func() int { return harness.FreePort(t) },
		baseID: -1,
		out:    &out,
		file:   file,
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	for _, c := range o.configs {
		if n := strings.Count(out.String(), "| "+c+" |"); n != 2 {
			t.Errorf("report has %d rows for %s, want 2 (closed loop, fixed rate):\n%s", n, c, out.String())
		}
	}
	for _, target := range []string{"≤ 1.10× native", "≥ 0.90× native", "within 100 µs of native", "module-off (a route without btp config) CPU/request ≤ 1.02× bare", "module-empty, enabled", "floor-sdk CPU/request", "floor-abi CPU/request"} {
		if !strings.Contains(out.String(), target) {
			t.Errorf("report has no target %q:\n%s", target, out.String())
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != out.String() {
		t.Errorf("-o %s: %v; file and printed report differ", file, err)
	}
}

// native-F keeps only the native filter standing in for F (none for
// retry, the route's retry_policy), in front of the router; native keeps
// all four. A made-up name is refused, naming what is allowed.
func TestNativeFeatureFilters(t *testing.T) {
	want := map[string][]string{
		Native:                {"envoy.filters.http.custom_response", "envoy.filters.http.fault", "envoy.filters.http.buffer", "envoy.filters.http.local_ratelimit", "router"},
		Native + "-ratelimit": {"envoy.filters.http.local_ratelimit", "router"},
		Native + "-fault":     {"envoy.filters.http.fault", "router"},
		Native + "-override":  {"envoy.filters.http.custom_response", "router"},
		Native + "-buffer":    {"envoy.filters.http.buffer", "router"},
		Native + "-retry":     {"router"},
	}
	for name, filters := range want {
		su, err := parseSetup(name)
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		rendered := `{"static_resources": {"listeners": [{"address": {"socket_address": {"address": "0.0.0.0"}},
		  "filter_chains": [{"filters": [{"typed_config": {
		    "http_filters": [{"name": "btp"}, {"name": "router"}],
		    "route_config": {"virtual_hosts": [{"routes": [{"route": {},
		      "typed_per_filter_config": {"envoy.filters.http.dynamic_modules": {"config": {"filter_config": {"value": "{}"}}}}}]}]}}}]}]}]}}`
		if err := yaml.Unmarshal([]byte(rendered), &b); err != nil {
			t.Fatal(err)
		}
		if err := derive(b, su); err != nil {
			t.Fatal(err)
		}
		hcm, _ := object(b, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config")
		var got []string
		for _, f := range hcm["http_filters"].([]any) {
			got = append(got, f.(map[string]any)["name"].(string))
		}
		if strings.Join(got, ",") != strings.Join(filters, ",") {
			t.Errorf("%s: http_filters %v, want %v", name, got, filters)
		}
	}
	if _, err := parseSetup("module-timeout"); err == nil || !strings.Contains(err.Error(), "module-F or native-F") {
		t.Errorf("parseSetup(module-timeout) = %v, want an error naming what is allowed", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
