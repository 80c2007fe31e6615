package config

import (
	"fmt"
	"math"
)

// ParseQuantity parses a Kubernetes quantity as used for sizes: a
// non-negative integer with an optional binary (Ki, Mi, Gi, Ti, Pi, Ei) or
// decimal (k, M, G, T, P, E) suffix ("10Mi", "1k", "4096"). Fractions and
// exponents, which nobody writes for a byte size, are rejected.
func ParseQuantity(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid quantity %q: want digits with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E (e.g. 10Mi, 4096)", s)
	}
	var n int64
	for _, c := range s[:i] {
		if n > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("invalid quantity %q: too large", s)
		}
		n = n*10 + int64(c-'0')
	}
	var mult int64
	switch s[i:] {
	case "":
		mult = 1
	case "k":
		mult = 1e3
	case "M":
		mult = 1e6
	case "G":
		mult = 1e9
	case "T":
		mult = 1e12
	case "P":
		mult = 1e15
	case "E":
		mult = 1e18
	case "Ki":
		mult = 1 << 10
	case "Mi":
		mult = 1 << 20
	case "Gi":
		mult = 1 << 30
	case "Ti":
		mult = 1 << 40
	case "Pi":
		mult = 1 << 50
	case "Ei":
		mult = 1 << 60
	default:
		return 0, fmt.Errorf("invalid quantity %q: unknown suffix %q: allowed Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E", s, s[i:])
	}
	if n != 0 && n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid quantity %q: too large", s)
	}
	return n * mult, nil
}
