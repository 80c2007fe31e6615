package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/policy"
)

var updateCheck = flag.Bool("update", false, "rewrite testdata/check/*.golden from btp check")

func checkRun(t *testing.T, files ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"check"}, files...), &stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestCheckGolden: good and bad hand-written bootstraps for both hosts;
// the exit status, the summary and every error (listener, virtual host,
// route, field path in the file and in the btp config) are golden.
func TestCheckGolden(t *testing.T) {
	for name, files := range map[string][]string{
		"good":       {"golang.yaml", "dynmod.yaml"},
		"golang-bad": {"golang-bad.yaml"},
		"dynmod-bad": {"dynmod-bad.yaml", "dynmod.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			for i, f := range files {
				files[i] = filepath.Join("testdata", "check", f)
			}
			code, out, errs := checkRun(t, files...)
			got := "exit " + strconv.Itoa(code) + "\n--- stdout\n" + out + "--- stderr\n" + errs
			golden := filepath.Join("testdata", "check", name+".golden")
			if *updateCheck {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/btp -run TestCheckGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("btp check %v:\n%q\nwant:\n%q", files, got, want)
			}
		})
	}
}

func TestCheckArguments(t *testing.T) {
	if code, _, errs := checkRun(t); code != 1 || !strings.Contains(errs, "no input") {
		t.Errorf("no file: exit %d, %q", code, errs)
	}
	if code, _, errs := checkRun(t, "testdata/check/missing.yaml"); code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(empty, []byte("static_resources: {listeners: []}\n"), 0o644)
	if code, _, errs := checkRun(t, empty); code != 1 || !strings.Contains(errs, "no btp filter config found") {
		t.Errorf("no btp filter: exit %d, %q", code, errs)
	}
}

// TestCheckRDS: an RDS discovery response (path_config_source) is checked
// like a bootstrap's inline route table.
func TestCheckRDS(t *testing.T) {
	rds := filepath.Join(t.TempDir(), "rds.yaml")
	os.WriteFile(rds, []byte(`resources:
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: main
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - name: r
      match: {prefix: "/"}
      route: {cluster: be0}
      typed_per_filter_config:
        envoy.filters.http.dynamic_modules:
          "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute
          dynamic_module_config: {name: btp_module}
          per_route_config_name: btp
          filter_config: {"@type": type.googleapis.com/google.protobuf.StringValue, value: '{"retries": {}}'}
`), 0o644)
	code, _, errs := checkRun(t, rds)
	if code != 1 || !strings.Contains(errs, `virtual host "all": route "r" (resources[0].virtual_hosts[0].routes[0]`) ||
		!strings.Contains(errs, "retries: unknown field") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
}

// TestCheckRendered: `btp check` accepts the repository's envoy.yaml, every
// rendering golden as committed, and every golden input rendered for both
// hosts, and counts each config: the filter level plus every route that
// carries one.
func TestCheckRendered(t *testing.T) {
	files := []string{"../../envoy.yaml"}
	outs, err := filepath.Glob("../../bootstrap/testdata/*.out.yaml")
	if err != nil || len(outs) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	files = append(files, outs...)
	ins, _ := filepath.Glob("../../bootstrap/testdata/*.in.yaml")
	dir := t.TempDir()
	for _, in := range ins {
		if _, err := os.Stat(strings.TrimSuffix(in, ".in.yaml") + ".err"); err == nil {
			continue // a golden error case
		}
		m, err := policy.Load([]string{in}, nil)
		if err != nil && !strings.Contains(in, "keep-going") {
			t.Fatalf("%s: %v", in, err)
		}
		for _, host := range []bootstrap.Host{bootstrap.HostDynamicModule, bootstrap.HostGolang} {
			b, err := bootstrap.Render(m, bootstrap.Options{Host: host, KeepGoing: true})
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			y, err := bootstrap.YAML(b)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, strings.TrimSuffix(filepath.Base(in), ".in.yaml")+"."+string(host)+".yaml")
			if err := os.WriteFile(f, y, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	summary := regexp.MustCompile(`^(\d+) configs checked: (\d+) routes, (golang|dynamic-module) host\n$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		filters := strings.Count(string(data), "filter_name: btp") + strings.Count(string(data), "plugin_name: btp")
		routes := strings.Count(string(data), "per_route_config_name: btp") + strings.Count(string(data), "\n                      btp:\n")
		code, out, errs := checkRun(t, f)
		if filters == 0 {
			if code != 1 || !strings.Contains(errs, "no btp filter config found") {
				t.Errorf("%s (no btp filter): exit %d, %q", f, code, errs)
			}
			continue
		}
		m := summary.FindStringSubmatch(out)
		if code != 0 || errs != "" || m == nil {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s", f, code, out, errs)
			continue
		}
		if m[1] != strconv.Itoa(filters+routes) || m[2] != strconv.Itoa(routes) {
			t.Errorf("%s: %q, want %d configs, %d routes", f, strings.TrimSpace(out), filters+routes, routes)
		}
	}
}

// TestCheckDocsExample: docs/golang.md's envoy.yaml passes, and its `btp
// check` example (the same snippet with unit: Sec) prints what the docs say.
func TestCheckDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/golang.md")
	if err != nil {
		t.Fatal(err)
	}
	_, snippet, _ := strings.Cut(string(doc), "```yaml\nstatic_resources:")
	snippet, _, _ = strings.Cut("static_resources:"+snippet, "```")
	_, example, ok := strings.Cut(string(doc), "  $ btp check envoy.yaml")
	if !ok {
		t.Fatal("docs/golang.md has no btp check example")
	}
	example, _, _ = strings.Cut(example, "  $ echo $?")
	_, example, _ = strings.Cut(example, "\n")
	example = strings.ReplaceAll(example, "\n  ", "\n")
	example = strings.TrimPrefix(example, "  ")

	t.Chdir(t.TempDir())
	os.WriteFile("envoy.yaml", []byte(snippet), 0o644)
	if code, out, errs := checkRun(t, "envoy.yaml"); code != 0 || out != "2 configs checked: 1 routes, golang host\n" || errs != "" {
		t.Errorf("the docs' snippet: exit %d, %q, %q", code, out, errs)
	}
	os.WriteFile("envoy.yaml", []byte(strings.Replace(snippet, "unit: Minute", "unit: Sec", 1)), 0o644)
	code, _, errs := checkRun(t, "envoy.yaml")
	if code != 1 || errs != example {
		t.Errorf("exit %d, stderr:\n%s\ndocs/golang.md says:\n%s", code, errs, example)
	}
}
