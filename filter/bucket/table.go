package bucket

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Table maps keys (a client's header value or address, for a Distinct rate
// limit) to buckets, holding at most a fixed number of keys whatever
// clients send. When a shard is full, a new key evicts the most idle of a
// few sampled keys: full buckets first, which loses nothing, else the one
// nearest to full.
type Table struct {
	seed     maphash.Seed
	perShard int
	shards   [tableShards]tableShard
}

const (
	tableShards = 16
	// evictSample is how many keys a full shard looks at to pick a victim.
	evictSample = 8
)

type tableShard struct {
	mu sync.RWMutex
	m  map[string]*Bucket
	_  [40]byte // keep shards on separate cache lines
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

// Get returns key's bucket, adding a full one if the key is new. key is
// copied when stored, so it may alias memory the caller reuses.
func (t *Table) Get(key string, now int64) *Bucket {
	s := &t.shards[maphash.String(t.seed, key)%tableShards]
	s.mu.RLock()
	b := s.m[key]
	s.mu.RUnlock()
	if b != nil {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.m[key]; b != nil {
		return b
	}
	if len(s.m) >= t.perShard {
		s.evict(now)
	}
	b = new(Bucket)
	s.m[strings.Clone(key)] = b
	return b
}

// evict drops one key; map iteration order is random, so the sample is.
func (s *tableShard) evict(now int64) {
	var victim string
	best := int64(-1 << 63)
	seen := 0
	for k, b := range s.m {
		idle := b.idleSince(now)
		if idle >= 0 {
			victim = k
			break
		}
		if idle > best {
			victim, best = k, idle
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	delete(s.m, victim)
}
