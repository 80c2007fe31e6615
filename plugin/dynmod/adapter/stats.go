package adapter

import (
	"strings"
	"sync/atomic"

	"github.com/envoy-btp/envoy-btp/filter"
)

// The dynamic-module ABI increments a counter through a stream's handle,
// while the engine counts from wherever it is (its Stats has no stream).
// So the engine's increments land in process-wide pending deltas, and the
// adapter flushes them through the current stream's handle when an engine
// call returns. Counts reach Envoy before the callback that caused them
// returns to Envoy.

// pendingCounts is the engine's filter.Stats.
type pendingCounts struct {
	delta [filter.NumCounters]atomic.Int64
	dirty atomic.Bool
}

func (p *pendingCounts) Inc(c filter.Counter) {
	if c < filter.NumCounters {
		p.delta[c].Add(1)
		p.dirty.Store(true)
	}
}

// flush moves the pending deltas into Envoy's counters ids through h, in
// one call to the host; buf is the caller's scratch (a Go array passed to
// an interface method would escape, an allocation per flush).
func (p *pendingCounts) flush(h Handle, ids *counterIDs, buf *countBuf) {
	if !p.dirty.Load() || ids == nil {
		return
	}
	p.dirty.Store(false)
	idv, nv := &buf[0], &buf[1]
	k := 0
	for i := range p.delta {
		if d := p.delta[i].Swap(0); d > 0 && ids.ok[i] {
			idv[k], nv[k] = ids.id[i], uint64(d)
			k++
		}
	}
	if k > 0 {
		h.IncrementCounters(idv[:k], nv[:k])
	}
}

type countBuf [2][filter.NumCounters]uint64

// counts is the one engine Stats of this process (all configs share it;
// their counters have the same names in Envoy).
var counts pendingCounts

// counterIDs are Envoy's ids for the engine's counters in one filter config.
type counterIDs struct {
	id [filter.NumCounters]uint64
	ok [filter.NumCounters]bool
}

// StatName is the counter's name as the module defines it: the engine's
// name without the "btp." prefix, because the rendered bootstrap sets
// dynamic_module_config.metrics_namespace to "btp" (Envoy prefixes it), so
// /stats shows btp.ratelimit.over_limit and the like.
func StatName(c filter.Counter) string {
	return strings.TrimPrefix(c.Name(), "btp.")
}

func defineCounters(h ConfigHandle) *counterIDs {
	ids := &counterIDs{}
	for c := filter.Counter(0); c < filter.NumCounters; c++ {
		id, ok := h.DefineCounter(StatName(c))
		if !ok {
			Log(LevelWarn, "btp: counter "+StatName(c)+" not defined; it will not be counted")
			continue
		}
		ids.id[c], ids.ok[c] = id, true
	}
	return ids
}
