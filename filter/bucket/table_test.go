package bucket

import (
	"hash/maphash"
	"strconv"
	"testing"
	"time"
)

func TestTableBoundedUnderFlood(t *testing.T) {
	tbl := NewTable(1024)
	l := NewLimit(1, time.Hour)
	for i := 0; i < 200_000; i++ {
		b := tbl.Get("client-"+strconv.Itoa(i), int64(i))
		b.Take(&l, int64(i), 1, nil)
	}
	if n := tbl.Len(); n > 1024 || n < 1024-tableShards {
		t.Fatalf("table holds %d keys, cap 1024", n)
	}
}

func TestTableSameKeySameBucket(t *testing.T) {
	tbl := NewTable(64)
	key := []byte("alice")
	a := tbl.Get(string(key), 0)
	key[0] = 'X' // the caller's memory changes; the stored key must not
	if tbl.Get("alice", 0) != a {
		t.Fatal("same key, other bucket")
	}
	if tbl.Get("bob", 0) == a {
		t.Fatal("other key, same bucket")
	}
}

// TestTableEvictsIdleFirst: a shard that is full evicts a full (idle)
// bucket before one that holds a limited client's state.
func TestTableEvictsIdleFirst(t *testing.T) {
	tbl := NewTable(4 * tableShards) // 4 keys per shard
	l := NewLimit(1, time.Hour)
	shardOf := func(k string) uint64 { return maphash.String(tbl.seed, k) % tableShards }
	var keys []string
	for i := 0; len(keys) < 5; i++ {
		if k := "k" + strconv.Itoa(i); shardOf(k) == 0 {
			keys = append(keys, k)
		}
	}
	limited := tbl.Get(keys[0], 0)
	limited.Take(&l, 0, 1, nil) // not full for an hour
	for _, k := range keys[1:4] {
		tbl.Get(k, 0) // full buckets
	}
	tbl.Get(keys[4], 0) // shard 0 is full: one idle key goes
	if tbl.Get(keys[0], 0) != limited {
		t.Fatal("the limited client's bucket was evicted while idle ones were there")
	}
	if n := len(tbl.shards[0].m); n > 4 {
		t.Fatalf("shard holds %d keys, cap 4", n)
	}
}
