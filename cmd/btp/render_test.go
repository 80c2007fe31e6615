package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const renderInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app}
spec:
  endpoints: [{ip: {address: 10.0.0.1, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p1}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  faultInjection: {abort: {httpStatus: 503, percentage: 1}}
`

func renderRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"render"}, args...), &stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestRenderStdout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"--host golang", "envoy.filters.http.golang", "library_path: /etc/envoy/libbtp.so", "port_value: 19000"}},
		{[]string{"--host", "golang", "--library-path", "/lib/x.so", "--admin-port", "9901", "-o", "-"},
			[]string{"library_path: /lib/x.so", "port_value: 9901"}},
		{[]string{"--host", "dynamic-module"}, []string{"envoy.filters.http.dynamic_modules", "name: btp_module", `{"faultInjection":{"abort":{"httpStatus":503,"percentage":1}}}`}},
	} {
		code, out, errs := renderRun(t, renderInput, append([]string{"-f", "-"}, tc.args...)...)
		if code != 0 || errs != "" {
			t.Fatalf("render %v: exit %d, stderr %q", tc.args, code, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("render %v: output lacks %q", tc.args, w)
			}
		}
	}
}

func TestRenderWritesAtomically(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "envoy.yaml")
	if code, _, errs := renderRun(t, renderInput, "-f", "-", "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	good, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(good, []byte("static_resources:")) {
		t.Fatalf("output not written: %v\n%s", err, good)
	}
	// Bad input: exit 1, the error names the field, the old file is intact
	// and no temporary file is left behind.
	bad := strings.Replace(renderInput, "faultInjection: {abort: {httpStatus: 503, percentage: 1}}",
		"loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 1000}}", 1)
	code, _, errs := renderRun(t, bad, "-f", "-", "-o", out)
	if code != 1 || !strings.Contains(errs, "spec.loadBalancer.consistentHash.tableSize") {
		t.Fatalf("bad input: exit %d, stderr %q", code, errs)
	}
	after, _ := os.ReadFile(out)
	if !bytes.Equal(after, good) {
		t.Error("a failed render changed the existing output")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed render, want only envoy.yaml", len(entries))
	}
	// A failed render never creates the output.
	missing := filepath.Join(dir, "new.yaml")
	if code, _, _ := renderRun(t, bad, "-f", "-", "-o", missing); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed render created %s", missing)
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", "-", "--host", "wasm"}, `host "wasm": allowed "golang" or "dynamic-module"`},
		{[]string{"-f", "-", "--admin-port", "70000"}, "--admin-port 70000: allowed 1-65535"},
		{[]string{"-f", "-", "--ratelimit-url", "http://x"}, `rate limit service URL "http://x": allowed grpc://HOST:PORT`},
		{nil, "no input"},
		{[]string{"-f", "-", "-o", "/nonexistent-dir/envoy.yaml"}, "nonexistent-dir"},
	} {
		code, out, errs := renderRun(t, renderInput, tc.args...)
		if code != 1 || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("render %v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}

var globalInput = strings.Replace(renderInput, "faultInjection: {abort: {httpStatus: 503, percentage: 1}}",
	"rateLimit: {type: Global, global: {rules: [{clientSelectors: [{headers: [{name: x-user, type: Distinct}]}], limit: {requests: 10, unit: Minute}, shadowMode: true}]}}", 1)

func TestRenderRateLimitConfig(t *testing.T) {
	dir := t.TempDir()
	out, rls := filepath.Join(dir, "envoy.yaml"), filepath.Join(dir, "ratelimit")
	// A file of the operator's own in the directory is never touched.
	if err := os.MkdirAll(rls, 0o755); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(rls, "operator.yaml")
	if err := os.WriteFile(own, []byte("domain: mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := renderRun(t, globalInput, "-f", "-", "-o", out, "--ratelimit-config", rls)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	file := filepath.Join(rls, "default_gw_http.yaml") // domain default/gw/http
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{rateLimitConfigHeader, "domain: default/gw/http\n", "key: httproute/default/app/rule/0/match/0/*\n", "key: rule-0-match-0\n",
		"unit: MINUTE\n", "requests_per_unit: 10\n", "shadow_mode: true\n"} {
		if !strings.Contains(string(got), w) {
			t.Errorf("service config lacks %q:\n%s", w, got)
		}
	}
	if n := strings.Count(string(got), "domain:"); n != 1 {
		t.Errorf("%s holds %d documents; the service reads only the first", file, n)
	}
	if entries, _ := os.ReadDir(rls); len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the domain's file and operator.yaml", len(entries))
	}

	// A failed render leaves the service config as it was.
	bad := strings.Replace(globalInput, "unit: Minute", "unit: Fortnight", 1)
	if code, _, errs := renderRun(t, bad, "-f", "-", "-o", out, "--ratelimit-config", rls); code != 1 || !strings.Contains(errs, "limit.unit") {
		t.Fatalf("bad input: exit %d, stderr %q", code, errs)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, got) {
		t.Error("a failed render changed the service config")
	}

	// Without global rules the domain's file goes, so stale limits go; the
	// operator's file stays.
	if code, _, errs := renderRun(t, renderInput, "-f", "-", "-o", out, "--ratelimit-config", rls); code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s outlived its rules", file)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("the operator's own file was removed: %v", err)
	}

	// Unwritable path: exit 1, the error names the flag, no bootstrap written.
	fresh := filepath.Join(dir, "fresh.yaml")
	blocker := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = renderRun(t, globalInput, "-f", "-", "-o", fresh, "--ratelimit-config", filepath.Join(blocker, "rl"))
	if code != 1 || !strings.Contains(errs, "--ratelimit-config") || !strings.Contains(errs, "a-file") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Error("bootstrap written although the service config could not be")
	}
}

func TestRateLimitFileName(t *testing.T) {
	for in, want := range map[string]string{"default/gw/http": "default_gw_http.yaml", "ns-policy": "ns-policy.yaml", "a b:c": "a_b_c.yaml"} {
		if got := rateLimitFileName(in); got != want {
			t.Errorf("rateLimitFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderRateLimitConfigHint(t *testing.T) {
	code, out, errs := renderRun(t, globalInput, "-f", "-")
	if code != 0 || !strings.Contains(out, "envoy.filters.http.ratelimit") {
		t.Fatalf("exit %d, stdout lacks the ratelimit filter", code)
	}
	if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "was not written") || !strings.Contains(errs, "--ratelimit-config DIR") {
		t.Errorf("stderr %q: want one line saying the service config was not written and how to get it", errs)
	}
	if _, _, errs := renderRun(t, renderInput, "-f", "-"); errs != "" {
		t.Errorf("stderr %q without global rules: want nothing", errs)
	}
}

// The failure mode and timeout come from Envoy Gateway's EnvoyGateway config,
// so btp takes them as flags; every ratelimit filter gets them.
func TestRenderRateLimitFailClosedAndTimeout(t *testing.T) {
	code, out, errs := renderRun(t, globalInput, "-f", "-", "--ratelimit-config", t.TempDir())
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if strings.Contains(out, "failure_mode_deny") || strings.Contains(out, "timeout: 0.") {
		t.Errorf("defaults render failure_mode_deny or a timeout; want Envoy's (fail open, 20ms)")
	}
	code, out, errs = renderRun(t, globalInput, "-f", "-", "--ratelimit-config", t.TempDir(), "--ratelimit-fail-closed", "--ratelimit-timeout", "75ms")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	filters := strings.Count(out, "'@type': type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit\n")
	if filters == 0 || strings.Count(out, "failure_mode_deny: true") != filters || strings.Count(out, "timeout: 0.075s") != filters {
		t.Errorf("%d ratelimit filters: want each with failure_mode_deny: true and timeout: 0.075s:\n%s", filters, out)
	}
	if code, _, errs := renderRun(t, globalInput, "-f", "-", "--ratelimit-timeout", "-1s"); code != 1 || !strings.Contains(errs, "rate limit timeout -1s: allowed a positive duration") {
		t.Errorf("exit %d, stderr %q: want the negative timeout refused", code, errs)
	}
}
