package bootstrap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/policy"
)

// envoyBinary is the stock Envoy used to validate rendered bootstraps
// (`make test` sets BTP_ENVOY). Without it the test skips, except under CI.
func envoyBinary(t *testing.T) string {
	t.Helper()
	e := os.Getenv("BTP_ENVOY")
	if e == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("BTP_ENVOY is not set: CI must validate rendered bootstraps with a real Envoy (make envoy; make test sets it)")
		}
		t.Skip("BTP_ENVOY is not set: skipping `envoy --mode validate` (set BTP_ENVOY to an Envoy binary, e.g. via `make envoy`)")
	}
	return e
}

// moduleDir is where libbtp_module.so lives. `envoy --mode validate` loads
// the dynamic module and parses its config, so it must exist.
func moduleDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("BTP_MODULE_DIR")
	if d == "" {
		t.Fatal("BTP_MODULE_DIR is not set: `envoy --mode validate` loads libbtp_module.so for the dynamic-module filter, so it needs the directory holding it (make dynmod builds build/out/libbtp_module.so; make test sets BTP_MODULE_DIR)")
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "libbtp_module.so")); err != nil {
		t.Fatalf("BTP_MODULE_DIR=%s has no libbtp_module.so (run make dynmod): %v", d, err)
	}
	return abs
}

// envoyValidate runs `envoy --mode validate` on b.
func envoyValidate(t *testing.T, envoy, modDir string, b *bootstrapv3.Bootstrap) {
	t.Helper()
	y, err := YAML(b)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(f, y, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", f, "--use-dynamic-base-id", "-l", "warning")
	cmd.Env = append(os.Environ(), "GODEBUG=cgocheck=0", "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+modDir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("envoy --mode validate rejected the bootstrap: %v\n%s\n--- bootstrap ---\n%s", err, out, y)
	}
}

// TestEnvoyValidate proves rendered bootstraps load in a real stock Envoy:
// the example and every golden, for the dynamic-module host as they are;
// for the golang host (a contrib filter stock Envoy lacks) with the golang
// filter removed, after checking that filter's sections against the contrib
// protos and the per-route configs against the filter's own parser.
func TestEnvoyValidate(t *testing.T) {
	envoy := envoyBinary(t)
	mod := moduleDir(t)
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, "../examples")
	t.Run("envoy.yaml", func(t *testing.T) {
		// The committed example itself (TestExampleEnvoyYAML keeps it current).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", "../envoy.yaml", "--use-dynamic-base-id", "-l", "warning")
		cmd.Env = append(os.Environ(), "GODEBUG=cgocheck=0", "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+mod)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
			t.Fatalf("envoy --mode validate rejected envoy.yaml: %v\n%s", err, out)
		}
	})
	for _, in := range inputs {
		m, err := policy.Load([]string{in}, nil)
		if err != nil && !strings.Contains(in, "keep-going") { // *keep-going* render past invalid policies
			if _, errGolden := os.Stat(strings.TrimSuffix(in, ".in.yaml") + ".err"); errGolden == nil {
				continue // a golden load error case
			}
			t.Fatalf("%s: %v", in, err)
		}
		if _, err := os.Stat(strings.TrimSuffix(in, ".in.yaml") + ".err"); err == nil {
			continue // a golden render error case: nothing to validate
		}
		for _, host := range []Host{HostDynamicModule, HostGolang} {
			name := strings.TrimSuffix(filepath.Base(in), ".in.yaml") + "/" + string(host)
			t.Run(name, func(t *testing.T) {
				b, err := Render(m, Options{Host: host})
				if err != nil {
					t.Fatal(err)
				}
				if host == HostGolang {
					b = withoutGolangFilter(t, b)
				}
				envoyValidate(t, envoy, mod, b)
			})
		}
	}
}

// withoutGolangFilter checks the golang filter and its per-route configs
// (contrib protos, ValidateAll, the btp config parser) and returns a copy of
// b without them.
func withoutGolangFilter(t *testing.T, b *bootstrapv3.Bootstrap) *bootstrapv3.Bootstrap {
	t.Helper()
	b = proto.Clone(b).(*bootstrapv3.Bootstrap)
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				if nf.GetName() != "envoy.filters.network.http_connection_manager" {
					continue // tcp_proxy: no HTTP filters
				}
				var hcm hcmv3.HttpConnectionManager
				if err := nf.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					t.Fatal(err)
				}
				var kept []*hcmv3.HttpFilter
				for _, f := range hcm.HttpFilters {
					if f.Name != GolangFilterName {
						kept = append(kept, f)
						continue
					}
					var g golangv3alpha.Config
					if err := f.GetTypedConfig().UnmarshalTo(&g); err != nil {
						t.Fatalf("golang filter config is not a golang Config: %v", err)
					}
					if err := g.ValidateAll(); err != nil {
						t.Fatalf("golang filter config: %v", err)
					}
					if g.LibraryId != GolangLibraryID || g.PluginName != GolangPluginName || g.LibraryPath != DefaultLibraryPath {
						t.Fatalf("golang filter names: got library_id %q plugin_name %q library_path %q", g.LibraryId, g.PluginName, g.LibraryPath)
					}
				}
				hcm.HttpFilters = kept
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						a, ok := r.TypedPerFilterConfig[GolangFilterName]
						if !ok {
							continue
						}
						var pr golangv3alpha.ConfigsPerRoute
						if err := a.UnmarshalTo(&pr); err != nil {
							t.Fatalf("route %s: not a golang ConfigsPerRoute: %v", r.Name, err)
						}
						if err := pr.ValidateAll(); err != nil {
							t.Fatalf("route %s: %v", r.Name, err)
						}
						p, err := config.ParseAny(pr.PluginsConfig[GolangPluginName].GetConfig())
						if err != nil {
							t.Fatalf("route %s: the btp filter cannot parse its config: %v", r.Name, err)
						}
						if _, err := config.Compile(p); err != nil {
							t.Fatalf("route %s: the btp filter refuses its config: %v", r.Name, err)
						}
						delete(r.TypedPerFilterConfig, GolangFilterName)
					}
				}
				nf.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&hcm)}
			}
		}
	}
	return b
}
