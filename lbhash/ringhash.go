package lbhash

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Envoy's ring hash defaults (ring_hash_lb.h).
const (
	DefaultMinRingSize = 1024
	DefaultMaxRingSize = 8 * 1024 * 1024
)

// RingHashFunction is how ring entries are hashed (ring_hash.hash_function).
type RingHashFunction uint8

const (
	// XXHash is Envoy's default.
	XXHash RingHashFunction = iota
	// MurmurHash2 is std::hash<string>'s 64-bit MurmurHash2.
	MurmurHash2
)

// Ring is Envoy's ketama ring (ring_hash_lb.cc).
type Ring struct {
	hashes []uint64
	hosts  []uint32
	count  []uint32
}

// NewRing builds the ring Envoy builds for the host set. minSize and
// maxSize are minimum_ring_size and maximum_ring_size; 0 means the default.
func NewRing(s *HostSet, minSize, maxSize uint64, fn RingHashFunction) (*Ring, error) {
	if minSize == 0 {
		minSize = DefaultMinRingSize
	}
	if maxSize == 0 {
		maxSize = DefaultMaxRingSize
	}
	if minSize > maxSize {
		return nil, fmt.Errorf("ring hash: minimum_ring_size (%d) > maximum_ring_size (%d)", minSize, maxSize)
	}
	if fn != XXHash && fn != MurmurHash2 {
		return nil, fmt.Errorf("ring hash: hash function %d unsupported: allowed XX_HASH, MURMUR_HASH_2", fn)
	}
	ws, minW, _, err := s.normalize()
	if err != nil {
		return nil, err
	}
	r := &Ring{count: make([]uint32, len(s.Hosts))}
	if len(ws) == 0 {
		return r, nil
	}
	// Scale so the lightest host gets a whole number of entries, capped at
	// the maximum size.
	scale := math.Min(math.Ceil(minW*float64(minSize))/minW, float64(maxSize))
	size := uint64(math.Ceil(scale))
	type entry struct {
		hash uint64
		host uint32
	}
	ring := make([]entry, 0, size)
	var buf []byte
	current, target := 0.0, 0.0
	for _, w := range ws {
		buf = append(buf[:0], s.key(w.host)...)
		buf = append(buf, '_')
		prefix := len(buf)
		target = float64(target + float64(scale*w.weight))
		for i := uint64(0); current < target; i++ {
			buf = strconv.AppendUint(buf[:prefix], i, 10)
			var h uint64
			if fn == MurmurHash2 {
				h = murmurHash2(buf, murmurSeed)
			} else {
				h = xxhash.Sum64(buf)
			}
			ring = append(ring, entry{hash: h, host: uint32(w.host)})
			r.count[w.host]++
			current++
		}
	}
	sort.SliceStable(ring, func(a, b int) bool { return ring[a].hash < ring[b].hash })
	r.hashes = make([]uint64, len(ring))
	r.hosts = make([]uint32, len(ring))
	for i, e := range ring {
		r.hashes[i], r.hosts[i] = e.hash, e.host
	}
	return r, nil
}

// Pick returns the host index for hash, or -1 for an empty ring. It is
// Envoy's port of ketama_get_server, quirks included: the first entry whose
// hash is >= the request hash, wrapping to entry 0.
func (r *Ring) Pick(hash uint64) int {
	i := r.index(hash)
	if i < 0 {
		return -1
	}
	return int(r.hosts[i])
}

// PickAttempt behaves as if the previously picked entries were removed:
// Envoy steps attempt entries along the ring.
func (r *Ring) PickAttempt(hash uint64, attempt uint32) int {
	i := r.index(hash)
	if i < 0 {
		return -1
	}
	if attempt > 0 {
		i = (i + int64(attempt)) % int64(len(r.hashes))
	}
	return int(r.hosts[i])
}

func (r *Ring) index(h uint64) int64 {
	n := int64(len(r.hashes))
	if n == 0 {
		return -1
	}
	// Signed indices on purpose: the search relies on highp going below
	// lowp.
	lowp, highp := int64(0), n
	for {
		midp := (lowp + highp) / 2
		if midp == n {
			return 0
		}
		midval := r.hashes[midp]
		midval1 := uint64(0)
		if midp > 0 {
			midval1 = r.hashes[midp-1]
		}
		if h <= midval && h > midval1 {
			return midp
		}
		if midval < h {
			lowp = midp + 1
		} else {
			highp = midp - 1
		}
		if lowp > highp {
			return 0
		}
	}
}

// Size is the number of ring entries.
func (r *Ring) Size() int { return len(r.hashes) }

// Entries returns how many ring entries host i holds.
func (r *Ring) Entries(i int) int { return int(r.count[i]) }
