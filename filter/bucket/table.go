package bucket

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Table maps keys (a client's header value or address, for a Distinct rate
// limit) to buckets, holding at most a fixed number of keys whatever
// clients send. A key's bucket is dropped only once it is full again, which
// loses nothing: a client that holds fewer than its capacity keeps its
// bucket however many other keys arrive. A new key that finds its shard
// holding only such clients shares the table's one overflow bucket (the
// rule's limit for all of them together) until some bucket refills: under
// a key flood a limiter errs on the side of the limit.
type Table struct {
	seed     maphash.Seed
	perShard int
	overflow Bucket
	shards   [tableShards]tableShard
}

const (
	tableShards = 16
	// evictProbes bounds the slots one new key looks at for a full bucket,
	// so a flood costs a bounded time under the shard's lock per request.
	evictProbes = 64
)

type tableShard struct {
	mu sync.RWMutex
	m  map[string]*Bucket
	// ring holds every key with its bucket in slot order; the hand sweeps it
	// (CLOCK), so every slot is looked at once per len(ring) probes.
	ring []slot
	hand int
	// After a whole sweep without a full bucket, none can be full before
	// notBefore, the earliest refill time the sweep saw (takes outside the
	// lock only push refill times later); until then a new key goes to the
	// overflow bucket without probing. swept counts the failed probes since
	// the last eviction, soonest is their earliest refill time.
	swept     int
	soonest   int64
	notBefore int64
	_         [24]byte // keep shards on separate cache lines (128 bytes)
}

type slot struct {
	key string
	b   *Bucket
}

// NewTable returns a table holding at most maxKeys keys (at least one per
// shard).
func NewTable(maxKeys int) *Table {
	t := &Table{seed: maphash.MakeSeed(), perShard: max(1, maxKeys/tableShards)}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Bucket)
	}
	return t
}

// MaxKeys is the most keys the table holds.
func (t *Table) MaxKeys() int { return t.perShard * tableShards }

// Len is the number of keys held now.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Get returns key's bucket, adding a full one if the key is new. own is
// false when the table had no room (every bucket in the key's shard holds a
// limited client's state): the bucket is then the overflow bucket all such
// keys share. key is copied when stored, so it may alias memory the caller
// reuses.
func (t *Table) Get(key string, now int64) (b *Bucket, own bool) {
	s := &t.shards[maphash.String(t.seed, key)%tableShards]
	s.mu.RLock()
	b = s.m[key]
	s.mu.RUnlock()
	if b != nil {
		return b, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.m[key]; b != nil {
		return b, true
	}
	if len(s.ring) < t.perShard {
		b = new(Bucket)
		k := strings.Clone(key)
		s.ring = append(s.ring, slot{k, b})
		s.m[k] = b
		return b, true
	}
	if !s.evict(now) {
		return &t.overflow, false
	}
	b = new(Bucket)
	k := strings.Clone(key)
	s.ring[s.hand] = slot{k, b}
	s.m[k] = b
	s.hand = (s.hand + 1) % len(s.ring)
	return b, true
}

// evict drops a full bucket, leaving the hand at its slot; false when none
// of the slots probed is full (nothing was dropped).
func (s *tableShard) evict(now int64) bool {
	if now < s.notBefore {
		return false
	}
	for range min(evictProbes, len(s.ring)) {
		e := &s.ring[s.hand]
		tat := e.b.tat.Load()
		if tat <= now {
			delete(s.m, e.key)
			s.swept, s.notBefore = 0, 0
			return true
		}
		if s.swept == 0 || tat < s.soonest {
			s.soonest = tat
		}
		s.hand = (s.hand + 1) % len(s.ring)
		if s.swept++; s.swept >= len(s.ring) {
			s.swept, s.notBefore = 0, s.soonest
			return false
		}
	}
	return false
}
