package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input may panic the parser or compiler, and whatever
// compiles must survive a round trip through its own wire form.
// Seeds: testdata/fuzz/FuzzParse (go's corpus format) and testdata/*.json.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := json.Marshal(c.Source)
		if err != nil {
			t.Fatalf("marshal compiled source: %v", err)
		}
		if _, err := Load(again); err != nil {
			t.Fatalf("config %s compiled, but its own wire form %s does not: %v", data, again, err)
		}
	})
}

func TestTestdataConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata configs")
	}
	for _, name := range files {
		data, _ := os.ReadFile(name)
		if _, err := Load(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
