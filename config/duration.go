package config

import (
	"fmt"
	"time"
)

// ParseDuration parses a Gateway API duration: one to four
// <number><unit> parts, numbers of at most five digits, units h, m, s, ms
// ("1h30m", "250ms", "0s"). It is stricter than time.ParseDuration on
// purpose, so a config Envoy Gateway would reject is rejected here too.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration: want e.g. 1h30m, 10s, 250ms")
	}
	var total time.Duration
	parts := 0
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 5 {
			return 0, fmt.Errorf("invalid duration %q: want one to four <1-5 digits><h|m|s|ms> parts, e.g. 1h30m, 250ms", s)
		}
		n := 0
		for _, c := range s[i:j] {
			n = n*10 + int(c-'0')
		}
		var unit time.Duration
		switch {
		case j+2 <= len(s) && s[j:j+2] == "ms":
			unit, j = time.Millisecond, j+2
		case j < len(s) && s[j] == 'h':
			unit, j = time.Hour, j+1
		case j < len(s) && s[j] == 'm':
			unit, j = time.Minute, j+1
		case j < len(s) && s[j] == 's':
			unit, j = time.Second, j+1
		default:
			return 0, fmt.Errorf("invalid duration %q: want one to four <1-5 digits><h|m|s|ms> parts, e.g. 1h30m, 250ms", s)
		}
		total += time.Duration(n) * unit
		parts++
		i = j
	}
	if parts > 4 {
		return 0, fmt.Errorf("invalid duration %q: at most four parts allowed", s)
	}
	return total, nil
}
