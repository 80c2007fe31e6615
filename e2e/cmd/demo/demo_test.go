package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// The quick start works on the examples as they are: btp render of
// examples/ for the dynamic module, then the demo shows its 429 and its
// overridden 503 (run returns an error otherwise). It uses the example's
// fixed ports (10080, 18081-18083, admin 19000).
func TestDemoOnTheExamples(t *testing.T) {
	envoy := harness.EnvoyBinary(t)
	modules := harness.ModuleDir(t)
	cfg := filepath.Join(t.TempDir(), "demo-envoy.yaml")
	render := exec.Command(harness.BtpBinary(t), "render", "-f", filepath.Join(harness.RepoRoot(t), "examples"), "--host", "dynamic-module", "-o", cfg)
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("btp render examples/: %v\n%s", err, out)
	}
	if err := run(cfg, envoy, modules, "127.0.0.1:10080", "127.0.0.1:19000", 60*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
