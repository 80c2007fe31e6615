package lbhash

import (
	"fmt"
	"math"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaglevTableSize is Envoy's Maglev table size when table_size is
// unset (and Envoy Gateway's tableSize default).
const DefaultMaglevTableSize = 65537

// MaxMaglevTableSize is the largest table_size Envoy accepts.
const MaxMaglevTableSize = 5000011

// Maglev is Envoy's Maglev lookup table (maglev_lb.cc): every slot holds the
// index of a host in the HostSet it was built from.
type Maglev struct {
	slots []uint32
	count []uint32 // slots per host, for stats and tests
}

// NewMaglev builds the table Envoy builds for the host set. tableSize must
// be prime (Envoy refuses the cluster otherwise); 0 means the default.
func NewMaglev(s *HostSet, tableSize uint64) (*Maglev, error) {
	if tableSize == 0 {
		tableSize = DefaultMaglevTableSize
	}
	if tableSize > MaxMaglevTableSize || !isPrime(tableSize) {
		return nil, fmt.Errorf("maglev table size %d: must be a prime number no larger than %d", tableSize, MaxMaglevTableSize)
	}
	ws, _, maxW, err := s.normalize()
	if err != nil {
		return nil, err
	}
	m := &Maglev{count: make([]uint32, len(s.Hosts))}
	if len(ws) == 0 {
		return m, nil
	}
	// Envoy fills the table in the order of the sorted hash keys, so the
	// result does not depend on the order endpoints are listed in.
	sort.SliceStable(ws, func(a, b int) bool { return s.key(ws[a].host) < s.key(ws[b].host) })

	type entry struct {
		host         int
		skip, cur    uint64
		weight       float64
		targetWeight float64
	}
	entries := make([]entry, len(ws))
	var d xxhash.Digest
	for i, w := range ws {
		k := s.key(w.host)
		offset := xxhash.Sum64String(k) % tableSize
		d.ResetWithSeed(1)
		_, _ = d.WriteString(k)
		skip := d.Sum64()%(tableSize-1) + 1
		entries[i] = entry{host: w.host, skip: skip, cur: offset, weight: w.weight}
	}

	const empty = math.MaxUint32
	m.slots = make([]uint32, tableSize)
	for i := range m.slots {
		m.slots[i] = empty
	}
	filled := uint64(0)
	for iteration := uint32(1); filled < tableSize; iteration++ {
		for i := 0; i < len(entries) && filled < tableSize; i++ {
			e := &entries[i]
			// A host at the largest weight takes a slot every round; one at
			// a third of it every third round.
			if float64(float64(iteration)*e.weight) < e.targetWeight {
				continue
			}
			e.targetWeight = float64(e.targetWeight + maxW)
			c := e.cur
			for m.slots[c] != empty {
				c += e.skip
				if c >= tableSize {
					c -= tableSize
				}
			}
			m.slots[c] = uint32(e.host)
			m.count[e.host]++
			e.cur = c + e.skip
			if e.cur >= tableSize {
				e.cur -= tableSize
			}
			filled++
		}
	}
	return m, nil
}

// Pick returns the host index for hash, or -1 for an empty table.
func (m *Maglev) Pick(hash uint64) int {
	if len(m.slots) == 0 {
		return -1
	}
	return int(m.slots[hash%uint64(len(m.slots))])
}

// PickAttempt mutates the hash for retry attempts the way Envoy does
// before the lookup.
func (m *Maglev) PickAttempt(hash uint64, attempt uint32) int {
	if attempt > 0 {
		hash ^= ^uint64(0) - uint64(attempt) + 1
	}
	return m.Pick(hash)
}

// Size is the table size (0 when built without hosts).
func (m *Maglev) Size() int { return len(m.slots) }

// Slots returns how many table slots host i holds.
func (m *Maglev) Slots(i int) int { return int(m.count[i]) }

// isPrime is trial division: table sizes are at most ~5e6.
func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
