package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary YAML through Read and Resolve: bad input must
// come back as errors, never as a panic, and a Load without errors must
// yield a model.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.in.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(attachBase + btp("p", "", toRuleA, "  mergeType: JSONMerge\n  retry: {}\n"))
	f.Add(routeBase + "  parentRefs: [{name: gw}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := Load([]string{"-"}, strings.NewReader(in))
		if m == nil {
			t.Fatalf("no model (err %v)", err)
		}
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, want ErrorList", err)
			}
		}
	})
}
