package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Calls are summed per callee over every caller and every dump file, with
// callgrind's per-file name compression: "(id) name" defines, "(id)" reuses.
func TestCallgrindCalls(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "callgrind.x.out")
	dump := "events: Ir\nfn=(1) caller\n0 5\ncfn=(2) runtime.cgocallbackg\ncalls=3 0\n0 30\nfn=(3) other\ncfn=(2)\ncalls=4 0\n0 8\ncfn=(1)\ncalls=1 0\n0 2\n"
	// The second file reuses id (2) for another name: ids are per file.
	final := "events: Ir\nfn=(1) a\ncfn=(2) runtime.cgocallbackg\ncalls=10 0\n0 1\nfn=(2)\n0 1\ncfn=(3) b\ncalls=2 0\n0 1\n"
	if err := os.WriteFile(out+".1", []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(final), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := callgrindCalls(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"runtime.cgocallbackg": 17, "caller": 1, "b": 2}
	if len(got) != len(want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("calls of %s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
