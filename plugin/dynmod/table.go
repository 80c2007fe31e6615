package main

import (
	"sync"
	"sync/atomic"
)

// table hands out small integer ids for objects Envoy holds on to (configs,
// streams), so no Go pointer ever crosses into Envoy and nothing is
// allocated per request: entries live in fixed chunks that are never moved
// or freed, and freed ids are reused. Lookups take no lock.
type table[T any] struct {
	mu     sync.Mutex
	free   []uint32
	n      uint32 // ids handed out so far
	chunks [tableChunks]atomic.Pointer[[tableChunk]T]
}

const (
	tableChunk  = 1024
	tableChunks = 4096 // at most 4M entries at once
)

// alloc returns a free id (>= 1) and its entry.
func (t *table[T]) alloc() (uint32, *T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var id uint32
	if k := len(t.free); k > 0 {
		id = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		if t.n == tableChunk*tableChunks {
			panic("btp: more than 4M streams or configs at once")
		}
		t.n++
		id = t.n
		if c := (id - 1) / tableChunk; t.chunks[c].Load() == nil {
			t.chunks[c].Store(new([tableChunk]T))
		}
	}
	return id, t.at(id)
}

// at is the entry of an id alloc returned.
func (t *table[T]) at(id uint32) *T {
	return &t.chunks[(id-1)/tableChunk].Load()[(id-1)%tableChunk]
}

// ensure makes the entry of id exist, for ids handed out elsewhere (the C
// side hands out stream slots).
func (t *table[T]) ensure(id uint32) *T {
	c := (id - 1) / tableChunk
	if c >= tableChunks {
		panic("btp: more than 4M streams at once")
	}
	if t.chunks[c].Load() == nil {
		t.mu.Lock()
		if t.chunks[c].Load() == nil {
			t.chunks[c].Store(new([tableChunk]T))
		}
		t.mu.Unlock()
	}
	return t.at(id)
}

// release makes id free for reuse; the caller has reset its entry.
func (t *table[T]) release(id uint32) {
	t.mu.Lock()
	t.free = append(t.free, id)
	t.mu.Unlock()
}
