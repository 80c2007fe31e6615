package bootstrap

import (
	"bytes"
	"os"
	"strings"
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

// The header of every rendered bootstrap says how to stop Envoy without
// cutting requests (e2e/drain_test.go proves the recipe), with the admin
// port it was rendered for.
func TestCommentSaysHowToStop(t *testing.T) {
	for _, c := range []string{Comment(Options{Host: HostDynamicModule, AdminPort: 19123}), Comment(Options{Host: HostGolang, AdminPort: 19123}), XDSComment(XDSOptions{ServerURL: "grpc://127.0.0.1:18000", AdminPort: 19123})} {
		for _, w := range []string{"--drain-time-s", "--drain-strategy", "SIGTERM does not", "127.0.0.1:19123/healthcheck/fail", "127.0.0.1:19123/drain_listeners?graceful", "downstream_rq_active"} {
			if !strings.Contains(c, w) {
				t.Errorf("comment lacks %q:\n%s", w, c)
			}
		}
	}
}
