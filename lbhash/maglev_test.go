package lbhash

import (
	"fmt"
	"testing"
)

func hostsOnPorts(ports ...int) *HostSet {
	s := &HostSet{}
	for _, p := range ports {
		s.Hosts = append(s.Hosts, Host{Address: fmt.Sprintf("127.0.0.1:%d", p), Hostname: fmt.Sprint(p)})
	}
	return s
}

func maglevTable(t *testing.T, s *HostSet, size uint64) []int {
	t.Helper()
	m, err := NewMaglev(s, size)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, size)
	for i := range out {
		out[i] = m.Pick(uint64(i))
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The expected tables are the ones Envoy's own maglev_lb_test.cc asserts
// (tests Basic, BasicWithHostName, BasicWithMetadataHashKey, Weighted,
// LocalityWeighted*), so they pin lbhash to Envoy, not to itself.
func TestMaglevMatchesEnvoyTestVectors(t *testing.T) {
	six := func() *HostSet { return hostsOnPorts(90, 91, 92, 93, 94, 95) }
	byHostname := six()
	byHostname.UseHostname = true
	byHashKey := six()
	for i := range byHashKey.Hosts {
		byHashKey.Hosts[i].HashKey = byHashKey.Hosts[i].Hostname
		byHashKey.Hosts[i].Hostname = ""
	}
	weighted := hostsOnPorts(90, 91)
	weighted.Hosts[1].Weight = 2
	sameLocality := hostsOnPorts(90, 91)
	sameLocality.Hosts[1].Weight = 2
	sameLocality.Hosts[1].Locality = 1
	sameLocality.LocalityWeights = []uint32{1, 1}
	// Zones A (weight 8), B (weight 0), C (weight 2) in Envoy's sorted order.
	diffLocality := hostsOnPorts(90, 91, 92)
	diffLocality.Hosts[0].Locality, diffLocality.Hosts[1].Locality, diffLocality.Hosts[2].Locality = 0, 2, 1
	diffLocality.Hosts[1].Weight, diffLocality.Hosts[2].Weight = 2, 3
	diffLocality.LocalityWeights = []uint32{8, 0, 2}

	for _, tc := range []struct {
		name     string
		set      *HostSet
		size     uint64
		want     []int
		min, max int
	}{
		{"Basic", six(), 7, []int{2, 4, 0, 1, 5, 0, 3}, 1, 2},
		{"BasicWithHostName", byHostname, 7, []int{2, 5, 0, 3, 4, 1, 0}, 1, 2},
		{"BasicWithMetadataHashKey", byHashKey, 7, []int{2, 5, 0, 3, 4, 1, 0}, 1, 2},
		{"Weighted", weighted, 17, []int{1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1}, 6, 11},
		{"LocalityWeightedSameLocalityWeights", sameLocality, 17, []int{1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1}, 8, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := maglevTable(t, tc.set, tc.size)
			if !equalInts(got, tc.want) {
				t.Fatalf("table = %v, want %v", got, tc.want)
			}
			m, _ := NewMaglev(tc.set, tc.size)
			lo, hi := int(tc.size), 0
			for i := range tc.set.Hosts {
				lo, hi = min(lo, m.Slots(i)), max(hi, m.Slots(i))
			}
			if lo != tc.min || hi != tc.max {
				t.Errorf("entries per host min/max = %d/%d, want %d/%d", lo, hi, tc.min, tc.max)
			}
		})
	}
	t.Run("LocalityWeightedDifferentLocalityWeights", func(t *testing.T) {
		got := maglevTable(t, diffLocality, 17)
		want := []int{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0}
		if !equalInts(got, want) {
			t.Fatalf("table = %v, want %v", got, want)
		}
	})
}

func TestMaglevRetryAttemptMatchesEnvoy(t *testing.T) {
	m, err := NewMaglev(hostsOnPorts(90, 91, 92, 93, 94, 95), 7)
	if err != nil {
		t.Fatal(err)
	}
	// Envoy's BasicWithRetryHostPredicate: hash 10 picks host 1, the
	// second attempt host 0, the third host 5.
	for attempt, want := range []int{1, 0, 5} {
		if got := m.PickAttempt(10, uint32(attempt)); got != want {
			t.Errorf("attempt %d: host %d, want %d", attempt, got, want)
		}
	}
}

func TestMaglevLopsidedLocalities(t *testing.T) {
	// Envoy's LocalityWeightedLopsided: 1 heavy host in zone A (127), 1023
	// light ones in zone B (1); every light host keeps exactly one slot.
	s := &HostSet{LocalityWeights: []uint32{127, 1}}
	for i := 0; i < 1024; i++ {
		l := 1
		if i == 0 {
			l = 0
		}
		s.Hosts = append(s.Hosts, Host{Address: fmt.Sprintf("127.0.0.1:%d", i), Locality: l})
	}
	m, err := NewMaglev(s, DefaultMaglevTableSize)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 1024; i++ {
		if m.Slots(i) != 1 {
			t.Fatalf("light host %d holds %d slots, want 1", i, m.Slots(i))
		}
	}
	if got, want := m.Slots(0), DefaultMaglevTableSize-1023; got != want {
		t.Fatalf("heavy host holds %d slots, want %d", got, want)
	}
}

func TestMaglevOrderIndependent(t *testing.T) {
	a := hostsOnPorts(90, 91, 92, 93)
	b := hostsOnPorts(93, 91, 90, 92) // same hosts, other order
	ma, _ := NewMaglev(a, 65537)
	mb, _ := NewMaglev(b, 65537)
	for h := uint64(0); h < 65537; h++ {
		if a.Hosts[ma.Pick(h)].Address != b.Hosts[mb.Pick(h)].Address {
			t.Fatalf("slot %d differs with endpoint order", h)
		}
	}
}

// Maglev's promise (paper section 3.4, Envoy's maglev docs): with equal
// weights every host holds table_size/N slots give or take one round.
func TestMaglevEvenSpread(t *testing.T) {
	for _, n := range []int{3, 10, 100, 1000} {
		s := &HostSet{}
		for i := 0; i < n; i++ {
			s.Hosts = append(s.Hosts, Host{Address: fmt.Sprintf("10.%d.%d.%d:8080", i>>16, (i>>8)&255, i&255)})
		}
		m, err := NewMaglev(s, DefaultMaglevTableSize)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, total := DefaultMaglevTableSize, 0, 0
		for i := 0; i < n; i++ {
			lo, hi, total = min(lo, m.Slots(i)), max(hi, m.Slots(i)), total+m.Slots(i)
		}
		if total != DefaultMaglevTableSize {
			t.Fatalf("n=%d: %d slots filled, want %d", n, total, DefaultMaglevTableSize)
		}
		if hi-lo > 1 {
			t.Errorf("n=%d: slots per host range %d..%d, want within 1", n, lo, hi)
		}
	}
}

// Removing one of N hosts moves its own keys plus a small share of the rest
// (the paper bounds it; Envoy's docs call it minimal disruption).
func TestMaglevMinimalDisruption(t *testing.T) {
	const n = 20
	all := &HostSet{}
	for i := 0; i < n; i++ {
		all.Hosts = append(all.Hosts, Host{Address: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	less := &HostSet{Hosts: append([]Host(nil), all.Hosts[1:]...)}
	ma, _ := NewMaglev(all, DefaultMaglevTableSize)
	mb, _ := NewMaglev(less, DefaultMaglevTableSize)
	moved, movedOthers := 0, 0
	for h := uint64(0); h < DefaultMaglevTableSize; h++ {
		before := all.Hosts[ma.Pick(h)].Address
		after := less.Hosts[mb.Pick(h)].Address
		if before != after {
			moved++
			if before != all.Hosts[0].Address {
				movedOthers++
			}
		}
	}
	removedShare := float64(ma.Slots(0)) / DefaultMaglevTableSize
	share := float64(moved) / DefaultMaglevTableSize
	if share < removedShare {
		t.Fatalf("moved %.4f < removed host's share %.4f", share, removedShare)
	}
	// Keys of surviving hosts that moved: a few percent at most.
	if others := float64(movedOthers) / DefaultMaglevTableSize; others > 0.05 {
		t.Errorf("%.4f of keys of surviving hosts moved, want <= 0.05", others)
	}
}

func TestMaglevRejectsBadTableSize(t *testing.T) {
	for _, size := range []uint64{1, 4, 65536, MaxMaglevTableSize + 2} {
		if _, err := NewMaglev(hostsOnPorts(1), size); err == nil {
			t.Errorf("table size %d accepted", size)
		}
	}
	if _, err := NewMaglev(hostsOnPorts(1), 2); err != nil {
		t.Errorf("table size 2: %v", err)
	}
}

func TestMaglevNoHosts(t *testing.T) {
	m, err := NewMaglev(&HostSet{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pick(1) != -1 {
		t.Fatal("empty table picked a host")
	}
}
