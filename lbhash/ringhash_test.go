package lbhash

import (
	"math"
	"testing"
)

// Envoy's ring_hash_lb_test.cc Basic and BasicWithMurmur2: min ring 12,
// six hosts, two entries each, and the picks it asserts.
func TestRingMatchesEnvoyTestVectors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports []int
		fn    RingHashFunction
		picks map[uint64]int
	}{
		{"Basic", []int{90, 91, 92, 93, 94, 95}, XXHash, map[uint64]int{
			0: 4, math.MaxUint64: 4, 3551244743356806947: 5, 3551244743356806948: 3, 16117243373044804880: 0,
		}},
		{"BasicWithMurmur2", []int{80, 81, 82, 83, 84, 85}, MurmurHash2, map[uint64]int{
			0: 5, math.MaxUint64: 5, 1358027074129602068: 5, 1358027074129602069: 3, 10150910876324007730: 2,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := hostsOnPorts(tc.ports...)
			r, err := NewRing(s, 12, 0, tc.fn)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != 12 {
				t.Fatalf("ring size %d, want 12", r.Size())
			}
			for i := range s.Hosts {
				if r.Entries(i) != 2 {
					t.Errorf("host %d has %d entries, want 2", i, r.Entries(i))
				}
			}
			for h, want := range tc.picks {
				if got := r.Pick(h); got != want {
					t.Errorf("Pick(%d) = %d, want %d", h, got, want)
				}
			}
		})
	}
}

func TestRingBasicPositions(t *testing.T) {
	// The sorted ring Envoy's Basic test documents, port by position.
	r, err := NewRing(hostsOnPorts(90, 91, 92, 93, 94, 95), 12, 0, XXHash)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{833437586790550860, 928266305478181108, 1033482794131418490, 3551244743356806947,
		3851675632748031481, 5583722120771150861, 6311230543546372928, 7700377290971790572,
		13144177310400110813, 13444792449719432967, 15516499411664133160, 16117243373044804889}
	wantHost := []int{4, 2, 0, 5, 3, 1, 1, 3, 5, 2, 4, 0}
	for i := range want {
		if r.hashes[i] != want[i] || int(r.hosts[i]) != wantHost[i] {
			t.Errorf("entry %d = (%d, host %d), want (%d, host %d)", i, r.hashes[i], r.hosts[i], want[i], wantHost[i])
		}
	}
}

func TestRingWeightsAndBounds(t *testing.T) {
	s := hostsOnPorts(1, 2, 3)
	s.Hosts[2].Weight = 2
	r, err := NewRing(s, 0, 0, XXHash)
	if err != nil {
		t.Fatal(err)
	}
	// Weights 1/4, 1/4, 1/2 and min ring 1024: scale ceil(256)/0.25 = 1024,
	// split 256/256/512.
	if r.Entries(0) != 256 || r.Entries(1) != 256 || r.Entries(2) != 512 {
		t.Fatalf("entries %d/%d/%d, want 256/256/512", r.Entries(0), r.Entries(1), r.Entries(2))
	}
	capped, err := NewRing(s, 1024, 100, XXHash)
	if err == nil {
		t.Fatalf("min > max accepted: %v", capped)
	}
	// min 150 needs ceil(37.5)/0.25 = 152 entries; max 150 caps it.
	capped, err = NewRing(s, 150, 150, XXHash)
	if err != nil {
		t.Fatal(err)
	}
	if capped.Size() != 150 {
		t.Fatalf("capped ring size %d, want 150", capped.Size())
	}
}

func TestRingRetryAttemptSteps(t *testing.T) {
	r, _ := NewRing(hostsOnPorts(90, 91, 92, 93, 94, 95), 12, 0, XXHash)
	// Hash 0 lands on entry 0 (:94); attempt 1 is entry 1 (:92).
	if got := r.PickAttempt(0, 1); got != 2 {
		t.Fatalf("attempt 1 picked %d, want 2", got)
	}
}

func TestMurmurHash2(t *testing.T) {
	// Positions from Envoy's BasicWithMurmur2 ring: "127.0.0.1:85_0" or
	// "_1" hashes to 1358027074129602068.
	got0 := murmurHash2([]byte("127.0.0.1:85_0"), murmurSeed)
	got1 := murmurHash2([]byte("127.0.0.1:85_1"), murmurSeed)
	if got0 != 1358027074129602068 && got1 != 1358027074129602068 {
		t.Fatalf("murmur of 127.0.0.1:85_{0,1} = %d, %d; neither is Envoy's 1358027074129602068", got0, got1)
	}
}
