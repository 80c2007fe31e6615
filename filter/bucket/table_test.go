package bucket

import (
	"hash/maphash"
	"strconv"
	"testing"
	"time"
)

func TestTableBoundedUnderFlood(t *testing.T) {
	tbl := NewTable(1024)
	l := NewLimit(1, time.Millisecond) // refills 1 ms after a take
	for i := 0; i < 200_000; i++ {
		now := int64(i) * 1000 // 1 µs per key: a flood of 1000 keys per refill
		b, _ := tbl.Get("client-"+strconv.Itoa(i), now)
		b.Take(&l, now, 1, nil)
	}
	if n := tbl.Len(); n != 1024 {
		t.Fatalf("table holds %d keys, want its cap 1024", n)
	}
}

func TestTableSameKeySameBucket(t *testing.T) {
	tbl := NewTable(64)
	key := []byte("alice")
	a, own := tbl.Get(string(key), 0)
	key[0] = 'X' // the caller's memory changes; the stored key must not
	if b, _ := tbl.Get("alice", 0); b != a || !own {
		t.Fatal("same key, other bucket")
	}
	if b, _ := tbl.Get("bob", 0); b == a {
		t.Fatal("other key, same bucket")
	}
}

// shardKeys returns n keys that all land in shard 0.
func shardKeys(tbl *Table, n int, prefix string) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := prefix + strconv.Itoa(i); maphash.String(tbl.seed, k)%tableShards == 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestTableEvictsOnlyFull: a full shard drops a full (idle) bucket for a
// new key, never one that holds a limited client's state; with none full a
// new key shares the overflow bucket and nobody is dropped.
func TestTableEvictsOnlyFull(t *testing.T) {
	tbl := NewTable(4 * tableShards) // 4 keys per shard
	l := NewLimit(1, time.Hour)
	keys := shardKeys(tbl, 6, "k")
	limited, _ := tbl.Get(keys[0], 0)
	limited.Take(&l, 0, 1, nil) // not full for an hour
	for _, k := range keys[1:4] {
		tbl.Get(k, 0) // full buckets
	}
	if _, own := tbl.Get(keys[4], 0); !own {
		t.Fatal("no room made although three buckets were full")
	}
	if b, _ := tbl.Get(keys[0], 0); b != limited {
		t.Fatal("the limited client's bucket was evicted while idle ones were there")
	}
	// Now every client of the shard takes its token: a new key finds no room.
	var held []string
	for _, e := range tbl.shards[0].ring {
		e.b.Take(&l, 0, 1, nil)
		held = append(held, e.key)
	}
	b, own := tbl.Get(keys[5], 0)
	if own || b != &tbl.overflow {
		t.Fatal("a new key got its own bucket though every bucket held state")
	}
	for _, k := range held {
		if b, _ := tbl.Get(k, 0); b == &tbl.overflow {
			t.Fatalf("%s lost its bucket", k)
		}
	}
	if n := len(tbl.shards[0].m); n != 4 {
		t.Fatalf("shard holds %d keys, cap 4", n)
	}
	// An hour later they have refilled and the new key gets room.
	if _, own := tbl.Get(keys[5], int64(time.Hour)); !own {
		t.Fatal("no room after the buckets refilled")
	}
}

// TestTableFloodKeepsExhaustedClient is issue 13's attack: a client that
// used both of its 2 requests per hour, then 150,000 fresh keys that use
// both of theirs too (so the client's bucket is the one nearest to full).
// The client stays refused for its whole window and gets its 2 tokens back
// once the window has passed.
func TestTableFloodKeepsExhaustedClient(t *testing.T) {
	tbl := NewTable(65536)
	l := NewLimit(2, time.Hour)
	now := int64(1e9)
	take := func(key string) (ok, own bool) {
		b, own := tbl.Get(key, now)
		ok, _, _ = b.Take(&l, now, 1, nil)
		return ok, own
	}
	victim := 0 // requests admitted
	for i := 0; i < 2; i++ {
		if ok, _ := take("victim"); !ok {
			t.Fatalf("victim's request %d refused", i+1)
		}
	}
	overflowed := 0
	for i := 0; i < 150_000; i++ {
		now += int64(10 * time.Millisecond) // 25 minutes of flood in all
		k := "flood-" + strconv.Itoa(i)
		if _, own := take(k); !own {
			overflowed++
		}
		take(k)
		if i%1000 == 0 {
			if ok, _ := take("victim"); ok {
				victim++
			}
		}
	}
	if victim > 0 {
		t.Fatalf("victim admitted %d times during the flood, within its window", victim)
	}
	if overflowed < 150_000-tbl.MaxKeys() {
		t.Fatalf("only %d of 150000 flood keys found no room in a %d-key table", overflowed, tbl.MaxKeys())
	}
	if n := tbl.Len(); n > tbl.MaxKeys() {
		t.Fatalf("table holds %d keys, cap %d", n, tbl.MaxKeys())
	}
	if ok, _ := take("victim"); ok {
		t.Fatal("victim admitted within its window after the flood")
	}
	now = 1e9 + int64(time.Hour) // its window has passed
	for i := 0; i < 2; i++ {
		if ok, own := take("victim"); !ok || !own {
			t.Fatalf("victim's request %d after its window: ok=%v own bucket=%v", i+1, ok, own)
		}
	}
	if ok, _ := take("victim"); ok {
		t.Fatal("victim got a third token")
	}
}

// TestTableSweepSkipsUntilRefill: once a whole shard has been probed
// without finding a full bucket, new keys go to the overflow bucket
// without probing until the earliest bucket can have refilled, and then
// get room again.
func TestTableSweepSkipsUntilRefill(t *testing.T) {
	tbl := NewTable(4 * tableShards)
	l := NewLimit(1, time.Second)
	keys := shardKeys(tbl, 6, "s")
	for i, k := range keys[:4] {
		b, _ := tbl.Get(k, int64(i))
		b.Take(&l, int64(i), 1, nil) // full again at 1s + i
	}
	if _, own := tbl.Get(keys[4], 10); own {
		t.Fatal("room made while no bucket was full")
	}
	s := &tbl.shards[0]
	if s.notBefore != int64(time.Second) {
		t.Fatalf("after a sweep notBefore = %d, want the earliest refill %d", s.notBefore, int64(time.Second))
	}
	hand := s.hand
	if _, own := tbl.Get(keys[5], 20); own || s.hand != hand {
		t.Fatalf("before the earliest refill: own=%v, hand moved %d -> %d", own, hand, s.hand)
	}
	if _, own := tbl.Get(keys[5], int64(time.Second)); !own {
		t.Fatal("no room once the first bucket refilled")
	}
	// keys[0] was the one refilled and dropped; it comes back as a new key
	// once keys[1] has refilled too.
	if _, own := tbl.Get(keys[0], int64(time.Second)+1); !own {
		t.Fatal("the refilled key found no room")
	}
}
