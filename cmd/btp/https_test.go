package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A bootstrap with HTTPS listeners holds their private keys: only its
// owner may read it. Without TLS it stays world-readable.
func TestRenderModeWithPrivateKeys(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]os.FileMode{
		"../../bootstrap/testdata/https.in.yaml":  0o600,
		"../../bootstrap/testdata/routes.in.yaml": 0o644,
	} {
		out := filepath.Join(dir, filepath.Base(in)+".envoy.yaml")
		if code, _, errs := renderRun(t, "", "-f", in, "-o", out); code != 0 {
			t.Fatalf("render %s: exit %d: %s", in, code, errs)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", in, st.Mode().Perm(), want)
		}
	}
}
