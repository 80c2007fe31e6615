package config

import "testing"

func TestParseQuantity(t *testing.T) {
	good := map[string]int64{"0": 0, "4096": 4096, "1k": 1000, "10Mi": 10 << 20, "2Gi": 2 << 30, "1M": 1e6, "3Ki": 3072, "7E": 7e18}
	for in, want := range good {
		got, err := ParseQuantity(in)
		if err != nil || got != want {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Mi", "1.5Mi", "-1", "10mi", "10MB", "1e3", "9Ei", "99999999999999999999", " 1"} {
		if n, err := ParseQuantity(in); err == nil {
			t.Errorf("ParseQuantity(%q) = %d, want an error", in, n)
		}
	}
}
