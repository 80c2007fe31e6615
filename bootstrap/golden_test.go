package bootstrap

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml, *.ratelimit.yaml and *.err from the renderer")

// TestGolden renders every testdata/<feature>.in.yaml (loaded through
// policy.Load, as `btp render` does) and compares the result with
// <feature>.out.yaml, or with <feature>.err when rendering must fail, and
// the rate limit service config with <feature>.ratelimit.yaml (which must
// not exist when there is none). Files named *dynamic-module* render for
// the dynamic-module host, the rest for the golang host; files named
// *keep-going* render past invalid BackendTrafficPolicies (their routes
// answer 500), as `btp render --keep-going`.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in testdata: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			opts := Options{}
			if strings.Contains(name, "dynamic-module") {
				opts.Host = HostDynamicModule
			}
			got, rls, isErr := renderFile(t, in, opts)
			want := filepath.Join("testdata", name+".out.yaml")
			other := filepath.Join("testdata", name+".err")
			if isErr {
				want, other = other, want
			}
			compareGolden(t, want, got)
			if *update {
				os.Remove(other)
			}
			rlsFile := filepath.Join("testdata", name+".ratelimit.yaml")
			if len(rls) > 0 {
				compareGolden(t, rlsFile, rls)
			} else if *update {
				os.Remove(rlsFile)
			} else if _, err := os.Stat(rlsFile); err == nil {
				t.Errorf("%s exists but the render has no rate limit service config", rlsFile)
			}
		})
	}
}

// compareGolden checks got against the file want, or rewrites it with -update.
func compareGolden(t *testing.T, want string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(want, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	exp, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("render gave %s:\n%s\n(run `go test ./bootstrap/ -update` to accept)", filepath.Base(want), got)
	}
	if !bytes.Equal(got, exp) {
		t.Errorf("%s differs from the renderer's output (run `go test ./bootstrap/ -update` and review the diff):\n%s",
			want, firstDiff(exp, got))
	}
}

// renderFile returns the bootstrap YAML for in and the rate limit service
// config YAML (nil without global rules), or the error text and true.
func renderFile(t *testing.T, in string, opts Options) ([]byte, []byte, bool) {
	t.Helper()
	m, err := policy.Load([]string{in}, nil)
	if err != nil {
		// *keep-going* inputs render past invalid policies, as `btp render
		// --keep-going` does.
		perPolicy, rest := err.(policy.ErrorList).PerPolicy()
		if !strings.Contains(in, "keep-going") || len(perPolicy) == 0 || len(rest) > 0 {
			return []byte(err.Error() + "\n"), nil, true
		}
	}
	out, err := RenderAll(m, opts)
	if err != nil {
		return []byte(err.Error() + "\n"), nil, true
	}
	y, err := YAML(out.Bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	var rls []byte
	if len(out.RateLimit) > 0 {
		if rls, err = RateLimitYAML(out.RateLimit); err != nil {
			t.Fatal(err)
		}
	}
	return y, rls, false
}

func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(identical lines, different bytes)"
}
