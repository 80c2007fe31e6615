package bootstrap

import (
	"bytes"
	"os"
	"testing"

	"github.com/envoy-btp/envoy-btp/policy"
)

// TestExampleEnvoyYAML keeps envoy.yaml at the repository root current: it
// is examples/ rendered for the dynamic-module host (the one a stock Envoy
// runs). -update rewrites it.
func TestExampleEnvoyYAML(t *testing.T) {
	m, err := policy.Load([]string{"../examples"}, nil)
	if err != nil {
		t.Fatalf("examples/ does not load: %v", err)
	}
	opts := Options{Host: HostDynamicModule}
	b, err := Render(m, opts)
	if err != nil {
		t.Fatalf("examples/ does not render: %v", err)
	}
	y, err := YAML(b)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(Comment(opts)), y...)
	const path = "../envoy.yaml"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("envoy.yaml missing: run `make golden` (or btp render -f examples/ --host dynamic-module -o envoy.yaml): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("envoy.yaml is stale against examples/: run `make golden` and commit it:\n%s", firstDiff(want, got))
	}
}
