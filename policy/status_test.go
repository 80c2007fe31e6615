package policy

import (
	"flag"
	"fmt"
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

// Resolve must not change the Resources it reads: resolving twice gives the
// same statuses.
func TestResolveTwice(t *testing.T) {
	r, err := Read([]string{"testdata/invalid.in.yaml", "testdata/merge-override.in.yaml"}, nil)
	if err == nil {
		t.Fatal("want the Read errors of invalid.in.yaml")
	}
	m1, err1 := Resolve(r)
	m2, err2 := Resolve(r)
	if fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Errorf("errors differ:\n%v\n%v", err1, err2)
	}
	for i := range m1.Policies {
		a, _ := yaml.Marshal(m1.Policies[i].Status)
		b, _ := yaml.Marshal(m2.Policies[i].Status)
		if string(a) != string(b) {
			t.Errorf("status of %s differs:\n%s\n%s", m1.Policies[i].Name, a, b)
		}
	}
	for _, p := range r.Policies {
		if len(p.Status.Ancestors) != 0 {
			t.Errorf("Resolve wrote status into the input policy %s", p.Name)
		}
	}
}
