package bucket

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBucketSequence(t *testing.T) {
	l := NewLimit(4, time.Second) // one token per 250ms
	var b Bucket
	now := int64(5e9)
	for i, want := range []int64{3, 2, 1, 0} {
		ok, rem, reset := b.Take(&l, now, 1, nil)
		if !ok || rem != want {
			t.Fatalf("take %d: ok=%v remaining=%d, want remaining %d", i, ok, rem, want)
		}
		if wantReset := time.Duration(i+1) * (time.Second / 4); reset != wantReset {
			t.Fatalf("take %d: reset %v, want %v", i, reset, wantReset)
		}
	}
	if ok, rem, _ := b.Take(&l, now, 1, nil); ok || rem != 0 {
		t.Fatalf("5th take: ok=%v remaining=%d", ok, rem)
	}
	// A quarter of a second brings back exactly one token.
	now += int64(time.Second/4) - 1
	if ok, _, _ := b.Take(&l, now, 1, nil); ok {
		t.Fatal("token back too early")
	}
	now++
	if ok, _, _ := b.Take(&l, now, 1, nil); !ok {
		t.Fatal("token not back after 1/4 s")
	}
	// After a full second of quiet the bucket is full again (and no fuller).
	now += int64(10 * time.Second)
	if !b.Full(now) {
		t.Fatal("bucket not full after quiet")
	}
	for i := 0; i < 4; i++ {
		if ok, _, _ := b.Take(&l, now, 1, nil); !ok {
			t.Fatalf("take %d after refill refused", i)
		}
	}
	if ok, _, _ := b.Take(&l, now, 1, nil); ok {
		t.Fatal("bucket held more than its capacity")
	}
}

func TestBucketCostAndEdges(t *testing.T) {
	l := NewLimit(10, time.Minute)
	var b Bucket
	if ok, rem, _ := b.Take(&l, 0, 4, nil); !ok || rem != 6 {
		t.Fatalf("cost 4: ok=%v rem=%d", ok, rem)
	}
	if ok, rem, _ := b.Take(&l, 0, 7, nil); ok || rem != 6 {
		t.Fatalf("cost 7 with 6 left: ok=%v rem=%d", ok, rem)
	}
	if ok, _, _ := b.Take(&l, 0, 11, nil); ok {
		t.Fatal("cost above capacity admitted")
	}
	if ok, rem, _ := b.Take(&l, 0, 0, nil); !ok || rem != 6 {
		t.Fatalf("cost 0: ok=%v rem=%d", ok, rem)
	}
	b.Charge(&l, 0, 100) // leaves it empty, no deeper
	if ok, _, _ := b.Take(&l, 0, 1, nil); ok {
		t.Fatal("charge did not empty the bucket")
	}
	if ok, _, _ := b.Take(&l, int64(time.Minute/10), 1, nil); !ok {
		t.Fatal("charge left debt beyond empty")
	}
	zero := NewLimit(0, time.Second)
	if ok, _, reset := b.Take(&zero, 0, 1, nil); ok || reset != time.Second {
		t.Fatalf("zero limit admitted (reset %v)", reset)
	}
}

// TestBucketConcurrentExact: with the clock frozen, 8 goroutines racing on
// one bucket get exactly its capacity, never more.
func TestBucketConcurrentExact(t *testing.T) {
	l := NewLimit(5000, time.Hour)
	var b Bucket
	var got atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if ok, _, _ := b.Take(&l, 1000, 1, nil); ok {
					got.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got.Load() != 5000 {
		t.Fatalf("admitted %d, want 5000", got.Load())
	}
}

// TestBucketRateUnderContention: 8 goroutines share a fake clock that
// moves 1µs per attempt, asking ~8x more than a 100k/s limit allows; the
// admitted count must match the configured rate to within 1%.
func TestBucketRateUnderContention(t *testing.T) {
	ratio := fakeClockRatio(100_000)
	t.Logf("admitted/expected = %.5f", ratio)
	if ratio < 0.99 || ratio > 1.01 {
		t.Fatalf("admitted/expected = %.4f, want within 1%%", ratio)
	}
}

// State is what Envoy reports: whole tokens left, and the wait for the next
// token only when none is left (x-ratelimit-reset 0 while tokens remain).
func TestBucketState(t *testing.T) {
	l := NewLimit(3, time.Hour) // one token per 20 minutes
	var b Bucket
	now := int64(7e9)
	for i, want := range []int64{3, 2, 1, 0} {
		rem, next := b.State(&l, now)
		if rem != want {
			t.Fatalf("after %d takes: remaining %d, want %d", i, rem, want)
		}
		if wantNext := time.Duration(0); want == 0 {
			if next != 20*time.Minute {
				t.Fatalf("empty bucket: next token in %v, want 20m", next)
			}
		} else if next != wantNext {
			t.Fatalf("after %d takes: next %v, want 0 while tokens remain", i, next)
		}
		b.Take(&l, now, 1, nil)
	}
	now += int64(5 * time.Minute)
	if rem, next := b.State(&l, now); rem != 0 || next != 15*time.Minute {
		t.Fatalf("5 minutes later: remaining %d next %v, want 0 and 15m", rem, next)
	}
	if rem, _ := b.State(&l, now+int64(24*time.Hour)); rem != 3 {
		t.Fatalf("a day later: remaining %d, want the capacity 3", rem)
	}
	var none Bucket
	zero := NewLimit(0, time.Second)
	if rem, next := none.State(&zero, now); rem != 0 || next != time.Second {
		t.Fatalf("zero limit: %d %v", rem, next)
	}
}

// TestBucketTakeStaleNow: a taker that read the clock (100) before another
// took at a later time (200) must see the token that one left: with the
// clock read again it is admitted, never refused with a token in the
// bucket.
func TestBucketTakeStaleNow(t *testing.T) {
	l := NewLimit(2, time.Hour)
	var b Bucket
	clock := func() int64 { return 300 }
	if ok, rem, _ := b.Take(&l, 200, 1, clock); !ok || rem != 1 {
		t.Fatalf("first take: ok=%v remaining=%d", ok, rem)
	}
	ok, rem, reset := b.Take(&l, 100, 1, clock)
	if !ok || rem != 0 {
		t.Fatalf("second take with the earlier reading: ok=%v remaining=%d, want admitted with 0 left", ok, rem)
	}
	if want := time.Hour - 100; reset != want {
		t.Fatalf("reset %v, want %v (as of the fresh reading 300)", reset, want)
	}
	if ok, _, _ := b.Take(&l, 300, 1, clock); ok {
		t.Fatal("third take admitted: the limit is 2")
	}
}

// TestBucketTakeRacingClock: 20k fresh buckets of 2 tokens, two takers
// each reading a shared clock just before they take; every take must be
// admitted (the race that refused 1-3 in 60k).
func TestBucketTakeRacingClock(t *testing.T) {
	l := NewLimit(2, time.Hour)
	var clock atomic.Int64
	refused := 0
	for i := 0; i < 20_000; i++ {
		var b Bucket
		var oks [2]bool
		var wg sync.WaitGroup
		for g := range oks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				now := clock.Add(1)
				runtime.Gosched() // widen the window between reading the clock and taking
				oks[g], _, _ = b.Take(&l, now, 1, clock.Load)
			}()
		}
		wg.Wait()
		for _, ok := range oks {
			if !ok {
				refused++
			}
		}
	}
	if refused > 0 {
		t.Fatalf("%d takes refused with a token left", refused)
	}
}
