package policy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.status.yaml golden files")

// TestStatusGolden loads each testdata/*.in.yaml and compares every
// policy's status.ancestors with testdata/*.status.yaml.
func TestStatusGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			// Inputs may hold bad policies: their errors are part of the
			// golden output, after the status documents.
			m, loadErr := Load([]string{in}, nil)
			var docs []string
			for _, p := range m.Policies {
				doc, err := StatusDocument(p)
				if err != nil {
					t.Fatal(err)
				}
				y, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(y))
			}
			got := strings.Join(docs, "---\n")
			if loadErr != nil {
				got += "# errors:\n# " + strings.ReplaceAll(loadErr.Error(), "\n", "\n# ") + "\n"
			}
			golden := strings.TrimSuffix(in, ".in.yaml") + ".status.yaml"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./policy -update)", err)
			}
			if got != string(want) {
				t.Errorf("status differs from %s (go test ./policy -update, then review the diff):\n%s", golden, got)
			}
		})
	}
}
