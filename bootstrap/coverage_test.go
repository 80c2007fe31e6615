package bootstrap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/policy"
)

// TestGoldenCoverage: every spec field the renderer accepts appears in at
// least one golden that renders, so each has its output under review.
func TestGoldenCoverage(t *testing.T) {
	ins, _ := filepath.Glob("testdata/*.in.yaml")
	seen := map[string]bool{}
	for _, in := range ins {
		if _, err := os.Stat(strings.TrimSuffix(in, ".in.yaml") + ".err"); err == nil {
			continue
		}
		m, err := policy.Load([]string{in}, nil)
		if err != nil && !strings.Contains(in, "keep-going") {
			t.Fatalf("%s: %v", in, err)
		}
		for _, g := range m.Gateways {
			for _, l := range g.Listeners {
				for _, rt := range l.Routes {
					for _, r := range rt.Rules {
						if r.Policy == nil {
							continue
						}
						raw, _ := json.Marshal(r.Policy)
						var tree any
						if err := json.Unmarshal(raw, &tree); err != nil {
							t.Fatal(err)
						}
						collect(tree, "", seen)
					}
				}
			}
		}
	}
	var missing []string
	for p := range supported {
		// Attachment is resolved by the policy package (the effective spec
		// carries none of it), and valueRef bodies arrive resolved inline.
		top := strings.SplitN(strings.SplitN(p, ".", 2)[0], "[", 2)[0]
		if top == "targetRef" || top == "targetRefs" || top == "targetSelectors" || top == "mergeType" ||
			strings.Contains(p, ".body.valueRef") {
			continue
		}
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d supported fields appear in no rendering golden:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}

func collect(v any, pattern string, seen map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				continue
			}
			p := join(pattern, k)
			if !supported[p] && supported[join(pattern, "*")] {
				p = join(pattern, "*")
			}
			seen[p] = true
			collect(e, p, seen)
		}
	case []any:
		for _, e := range t {
			collect(e, pattern+"[]", seen)
		}
	}
}
