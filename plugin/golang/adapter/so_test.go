package adapter

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// httpFilterSymbols is what Envoy v1.39's golang HTTP filter dlsyms from the
// library (contrib/golang/common/dso/dso.cc, HttpFilterDsoImpl): the library
// is refused when any one is missing.
var httpFilterSymbols = []string{
	"envoyGoFilterNewHttpPluginConfig",
	"envoyGoFilterMergeHttpPluginConfig",
	"envoyGoFilterDestroyHttpPluginConfig",
	"envoyGoFilterOnHttpHeader",
	"envoyGoFilterOnHttpData",
	"envoyGoFilterOnHttpLog",
	"envoyGoFilterOnHttpStreamComplete",
	"envoyGoFilterOnHttpDestroy",
	"envoyGoRequestSemaDec",
	"envoyGoFilterCleanUp",
}

// TestSymbolListMatchesEnvoy reads the list from Envoy's own dso.cc, in the
// module cache at the version go.mod pins, so an SDK upgrade that adds a
// symbol fails here instead of at load time in Envoy.
func TestSymbolListMatchesEnvoy(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(envoyModuleDir(t), "contrib/golang/common/dso/dso.cc"))
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "HttpFilterDsoImpl::HttpFilterDsoImpl(")
	if start < 0 {
		t.Fatal("dso.cc: HttpFilterDsoImpl constructor not found")
	}
	body = body[start:]
	body = body[:strings.Index(body, "\n}\n")]
	var got []string
	for _, m := range regexp.MustCompile(`"(envoyGo\w+)"`).FindAllStringSubmatch(body, -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, httpFilterSymbols) {
		t.Fatalf("Envoy's golang filter dlsyms\n  %v\nthe test expects\n  %v", got, httpFilterSymbols)
	}
}

// envoyModuleDir is github.com/envoyproxy/envoy in the module cache, at the
// version go.mod pins.
func envoyModuleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/envoyproxy/envoy").Output()
	if err != nil {
		t.Fatalf("locating the envoy module: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildSO builds libbtp.so the way `make so` does, once per test binary.
var soOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

func buildSO(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the shared object (-short)")
	}
	soOnce.Do(func() {
		dir, err := os.MkdirTemp("", "btp-so-")
		if err != nil {
			soOnce.err = err
			return
		}
		soOnce.path = filepath.Join(dir, "libbtp.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", soOnce.path, "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		soOnce.out, soOnce.err = cmd.CombinedOutput()
	})
	if soOnce.err != nil {
		t.Fatalf("go build -buildmode=c-shared: %v\n%s", soOnce.err, soOnce.out)
	}
	return soOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, so := range []string{soOnce.path, baseline.path} {
		if so != "" {
			os.RemoveAll(filepath.Dir(so))
		}
	}
	os.Exit(code)
}

// TestSharedObjectExports checks the library's dynamic symbol table exports
// every function Envoy looks up.
func TestSharedObjectExports(t *testing.T) {
	so := buildSO(t)
	f, err := elf.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Fatalf("%s is %v, want a shared object", so, f.Type)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC && elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
			exported[s.Name] = true
		}
	}
	for _, name := range httpFilterSymbols {
		if !exported[name] {
			t.Errorf("libbtp.so does not export %s", name)
		}
	}

	// build/check-glibc.sh, which the Dockerfile runs against the target
	// image's glibc, passes and fails on this library as it should.
	script := filepath.Join("..", "..", "..", "build", "check-glibc.sh")
	if out, err := exec.Command(script, "99.0", so).CombinedOutput(); err != nil {
		t.Errorf("check-glibc.sh 99.0: %v\n%s", err, out)
	} else {
		t.Logf("%s", out)
	}
	if out, err := exec.Command(script, "2.0", so).CombinedOutput(); err == nil {
		t.Errorf("check-glibc.sh 2.0 passed a library built against a newer glibc:\n%s", out)
	}
}
