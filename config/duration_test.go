package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0s": 0, "1s": time.Second, "250ms": 250 * time.Millisecond, "1h30m": 90 * time.Minute,
		"1h2m3s4ms": time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond,
		"99999s":    99999 * time.Second, "1m1m": 2 * time.Minute,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "s", "1.5s", "-1s", "1d", "100000s", "1h1m1s1ms1s", "1 s", "1S", "1us", "10msx"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}
