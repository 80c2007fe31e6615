// Package compose checks the docker-compose rig (e2e/docker-compose.yaml,
// build/Dockerfile, e2e/compose/) without a Docker engine, which neither CI
// nor this machine has: the files are consistent with each other and with the
// versions the code is built against, the rig's resources render for both
// hosts and the golang host accepts what is rendered for it, and the rig's
// own check script (test.sh) passes against the rig's resources served by the
// pinned stock Envoy with the dynamic module (the host CI can run).
package compose

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/e2e/harness"
	"github.com/envoy-btp/envoy-btp/filter"
	"github.com/envoy-btp/envoy-btp/plugin/golang/adapter"
	"github.com/envoy-btp/envoy-btp/policy"
)

// composeFile is the subset of the Compose specification the rig uses;
// unknown keys are refused so a typo cannot hide.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

type composeService struct {
	Build       *composeBuild                `json:"build"`
	Image       string                       `json:"image"`
	Profiles    []string                     `json:"profiles"`
	Command     []string                     `json:"command"`
	Environment map[string]string            `json:"environment"`
	Expose      []string                     `json:"expose"`
	Ports       []string                     `json:"ports"`
	Volumes     []string                     `json:"volumes"`
	DependsOn   map[string]map[string]string `json:"depends_on"`
}

type composeBuild struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile"`
	Target     string `json:"target"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// x-* keys are Compose extension fields (YAML anchors live there);
	// anchors are resolved by the YAML parser, so drop the fields themselves.
	var generic map[string]any
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	for k := range generic {
		if strings.HasPrefix(k, "x-") {
			delete(generic, k)
		}
	}
	clean, err := yaml.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.UnmarshalStrict(clean, &f); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return f
}

// dockerStages maps each named stage of build/Dockerfile to its FROM line.
func dockerStages(t *testing.T, dockerfile string) (stages map[string]string, args map[string]string, lines []string) {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages, args = map[string]string{}, map[string]string{}
	from := regexp.MustCompile(`^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$`)
	arg := regexp.MustCompile(`^ARG\s+(\w+)=(\S+)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		lines = append(lines, line)
		if m := from.FindStringSubmatch(line); m != nil && m[2] != "" {
			stages[m[2]] = m[1]
		}
		if m := arg.FindStringSubmatch(line); m != nil {
			args[m[1]] = m[2]
		}
	}
	return stages, args, lines
}

func TestComposeFile(t *testing.T) {
	f := readCompose(t)
	stages, _, _ := dockerStages(t, "../../build/Dockerfile")
	for name, s := range f.Services {
		if (s.Build == nil) == (s.Image == "") {
			t.Errorf("service %s: needs exactly one of build or image", name)
		}
		if b := s.Build; b != nil {
			ctx := filepath.Join("..", b.Context)
			if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
				t.Errorf("service %s: build context %s is not the repository root: %v", name, b.Context, err)
			}
			if _, err := os.Stat(filepath.Join(ctx, b.Dockerfile)); err != nil {
				t.Errorf("service %s: dockerfile: %v", name, err)
			}
			if _, ok := stages[b.Target]; !ok {
				t.Errorf("service %s: target %q is not a stage of %s (stages: %v)", name, b.Target, b.Dockerfile, stages)
			}
		}
		for dep, cond := range s.DependsOn {
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
			if c := cond["condition"]; !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, c) {
				t.Errorf("service %s: depends_on %s condition %q", name, dep, c)
			}
			// a profiled service may only depend on services up in the same profile
			if d := f.Services[dep]; len(d.Profiles) > 0 && !slices.Equal(d.Profiles, s.Profiles) {
				t.Errorf("service %s (profiles %v) depends on %s (profiles %v)", name, s.Profiles, dep, d.Profiles)
			}
		}
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok {
				t.Errorf("service %s: volume %q has no target", name, v)
				continue
			}
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %s: bind mount %s: %v", name, src, err)
				}
			} else if _, ok := f.Volumes[src]; !ok {
				t.Errorf("service %s: named volume %s is not declared", name, src)
			}
		}
	}

	// Each profile is a complete rig: a render job for its host and an Envoy
	// that starts on what it rendered, in front of the shared echo backend.
	for _, host := range []string{"golang", "dynamic-module"} {
		render, envoy := f.Services["render-"+host], f.Services["envoy-"+host]
		if !slices.Equal(render.Profiles, []string{host}) || !slices.Equal(envoy.Profiles, []string{host}) {
			t.Errorf("profile %s: render-%s and envoy-%s must be in it", host, host, host)
		}
		if i := slices.Index(render.Command, "--host"); i < 0 || i+1 >= len(render.Command) || render.Command[i+1] != host {
			t.Errorf("render-%s renders %v, not --host %s", host, render.Command, host)
		}
		if envoy.Build == nil || envoy.Build.Target != host {
			t.Errorf("envoy-%s is not built from the %s stage", host, host)
		}
		if envoy.DependsOn["render-"+host]["condition"] != "service_completed_successfully" {
			t.Errorf("envoy-%s must wait for render-%s to finish", host, host)
		}
		if _, ok := envoy.DependsOn["echo"]; !ok {
			t.Errorf("envoy-%s does not start the echo backend", host)
		}
	}
}

func TestDockerfilePins(t *testing.T) {
	stages, args, lines := dockerStages(t, "../../build/Dockerfile")

	// The golang filter's C ABI is Envoy-release specific: the contrib image
	// must be the release whose SDK go.mod pins.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/envoyproxy/envoy v(\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/envoyproxy/envoy")
	}
	if args["ENVOY_CONTRIB_VERSION"] != string(m[1]) {
		t.Errorf("Dockerfile ENVOY_CONTRIB_VERSION=%s, go.mod's golang SDK is v%s", args["ENVOY_CONTRIB_VERSION"], m[1])
	}
	pinned, err := os.ReadFile("../../build/envoy-version")
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(pinned)); args["ENVOY_VERSION"] != v {
		t.Errorf("Dockerfile ENVOY_VERSION=%s, build/envoy-version pins %s", args["ENVOY_VERSION"], v)
	}
	if stages["golang"] != "envoyproxy/envoy:contrib-v${ENVOY_CONTRIB_VERSION}" {
		t.Errorf("golang stage FROM %s", stages["golang"])
	}
	if stages["dynamic-module"] != "envoyproxy/envoy:v${ENVOY_VERSION}" {
		t.Errorf("dynamic-module stage FROM %s", stages["dynamic-module"])
	}

	text := strings.Join(lines, "\n")
	// The .so lands where `btp render --host golang` points Envoy by default,
	// and the module on the search path the dynamic-module image sets.
	if !strings.Contains(text, "COPY --from=builder /out/libbtp.so "+bootstrap.DefaultLibraryPath) {
		t.Errorf("the golang stage does not copy libbtp.so to %s", bootstrap.DefaultLibraryPath)
	}
	if !strings.Contains(text, "COPY --from=builder /out/"+harness.ModuleFile+" /etc/envoy/"+harness.ModuleFile) ||
		!strings.Contains(text, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/etc/envoy") {
		t.Error("the dynamic-module stage does not put the module on its search path")
	}
	// Every package the builder compiles exists.
	for _, pkg := range regexp.MustCompile(`go build [^&]*?(\./\S+)`).FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join("../..", pkg[1], "main.go")); err != nil {
			t.Errorf("Dockerfile builds %s: %v", pkg[1], err)
		}
	}
	if !strings.Contains(text, "build/check-glibc.sh 2.35 /out/libbtp.so /out/"+harness.ModuleFile) {
		t.Error("the builder does not check both libraries against the images' glibc 2.35")
	}
}

// renderRig renders the rig's resources for a host.
func renderRig(t *testing.T, host bootstrap.Host) *bootstrapv3.Bootstrap {
	t.Helper()
	m, err := policy.Load([]string{"resources"}, nil)
	if err != nil {
		t.Fatalf("loading the rig's resources: %v", err)
	}
	b, err := bootstrap.Render(m, bootstrap.Options{Host: host})
	if err != nil {
		t.Fatalf("render --host %s: %v", host, err)
	}
	return b
}

// golangConfigs collects the btp configs of a golang-host bootstrap: the
// filter-level plugin_config of each HTTP connection manager, and each
// route's plugins_config.btp, with the listener ports.
type golangConfigs struct {
	ports       []uint32
	filterLevel []*anypb.Any
	routes      map[string]*anypb.Any
}

func collectGolangConfigs(t *testing.T, b *bootstrapv3.Bootstrap) golangConfigs {
	t.Helper()
	gc := golangConfigs{routes: map[string]*anypb.Any{}}
	for _, l := range b.GetStaticResources().GetListeners() {
		gc.ports = append(gc.ports, l.GetAddress().GetSocketAddress().GetPortValue())
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if err := nf.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					t.Fatal(err)
				}
				for _, hf := range hcm.GetHttpFilters() {
					if hf.GetName() != "envoy.filters.http.golang" {
						continue
					}
					var c golangv3alpha.Config
					if err := hf.GetTypedConfig().UnmarshalTo(&c); err != nil {
						t.Fatal(err)
					}
					if c.GetPluginName() != "btp" || c.GetLibraryPath() != bootstrap.DefaultLibraryPath {
						t.Errorf("golang filter: plugin %q library %q", c.GetPluginName(), c.GetLibraryPath())
					}
					gc.filterLevel = append(gc.filterLevel, c.GetPluginConfig())
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for i, r := range vh.GetRoutes() {
						pf, ok := r.GetTypedPerFilterConfig()["envoy.filters.http.golang"]
						if !ok {
							continue
						}
						var per golangv3alpha.ConfigsPerRoute
						if err := pf.UnmarshalTo(&per); err != nil {
							t.Fatal(err)
						}
						gc.routes[vh.GetName()+"/"+strconv.Itoa(i)+"/"+r.GetName()] = per.GetPluginsConfig()["btp"].GetConfig()
					}
				}
			}
		}
	}
	return gc
}

// loadInGolangHost runs every collected config through the golang host's
// parser and merges each route's over the filter level, as Envoy would.
func (gc golangConfigs) loadInGolangHost(t *testing.T) {
	t.Helper()
	var parser adapter.ConfigParser
	if len(gc.filterLevel) != 1 {
		t.Fatalf("%d golang filters, want 1", len(gc.filterLevel))
	}
	parent, err := parser.Parse(gc.filterLevel[0], newConfigCallbacks())
	if err != nil {
		t.Fatalf("filter-level config refused by the golang host: %v", err)
	}
	for name, a := range gc.routes {
		child, err := parser.Parse(a, nil)
		if _, ok := child.(*filter.Config); err != nil || !ok {
			// a refused route config comes back as the host's invalid
			// config (its route answers 500), not as an error
			t.Fatalf("route %s: config refused by the golang host: %T %v", name, child, err)
		}
		if parser.Merge(parent, child) == nil {
			t.Fatalf("route %s: merge gave nothing", name)
		}
	}
}

// TestRigConfigLoadsInGolangHost: every btp config the renderer emits for the
// golang host (filter level and per route) is accepted by the host's own
// config parser.
func TestRigConfigLoadsInGolangHost(t *testing.T) {
	gc := collectGolangConfigs(t, renderRig(t, bootstrap.HostGolang))
	if !slices.Equal(gc.ports, []uint32{10000}) {
		t.Errorf("listener ports %v; the compose file publishes 10000", gc.ports)
	}
	if len(gc.routes) != 2 {
		t.Errorf("%d routes carry btp config, want 2 (limited, override)", len(gc.routes))
	}
	gc.loadInGolangHost(t)
}

// TestRigOnStockEnvoy runs the rig's check script, unchanged, against the
// rig's resources served by the pinned stock Envoy with the dynamic module:
// the same resources and assertions the compose rig runs in Docker, with
// the echo backend on loopback instead of behind compose's DNS.
func TestRigOnStockEnvoy(t *testing.T) {
	harness.EnvoyBinary(t) // skips (fails under CI) without an Envoy

	dir := t.TempDir()
	echo := filepath.Join(dir, "echo")
	if out, err := exec.Command("go", "build", "-o", echo, "./echo").CombinedOutput(); err != nil {
		t.Fatalf("building echo: %v\n%s", err, out)
	}
	echoPort, port, admin := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	srv := exec.Command(echo, "-listen", "127.0.0.1:"+itoa(echoPort))
	srv.Env = append(os.Environ(), "BACKEND_NAME=echo")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	raw, err := os.ReadFile("resources/rig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := string(raw)
	for old, repl := range map[string]string{
		"  - fqdn:\n      hostname: echo\n      port: 8080": "  - ip:\n      address: 127.0.0.1\n      port: " + itoa(echoPort),
		"    port: 10000": "    port: " + itoa(port),
	} {
		if !strings.Contains(res, old) {
			t.Fatalf("resources/rig.yaml no longer contains %q", old)
		}
		res = strings.Replace(res, old, repl, 1)
	}
	harness.StartEnvoy(t, harness.Render(t, res, admin), admin)

	cmd := exec.Command("bash", "test.sh", "http://127.0.0.1:"+itoa(port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("test.sh against the dynamic-module host: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatalf("test.sh did not report its result:\n%s", out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
