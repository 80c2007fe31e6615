package adapter

import (
	"strings"
	"sync/atomic"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"

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

// flush moves the pending deltas into Envoy's counters ids through h.
func (p *pendingCounts) flush(h shared.HttpFilterHandle, ids *counterIDs) {
	if !p.dirty.Load() || ids == nil {
		return
	}
	p.dirty.Store(false)
	for i := range p.delta {
		if d := p.delta[i].Swap(0); d > 0 && ids.ok[i] {
			h.IncrementCounterValue(ids.id[i], uint64(d))
		}
	}
}

// counts is the one engine Stats of this process (all configs share it;
// their counters have the same names in Envoy).
var counts pendingCounts

// counterIDs are Envoy's ids for the engine's counters in one filter config.
type counterIDs struct {
	id [filter.NumCounters]shared.MetricID
	ok [filter.NumCounters]bool
}

// StatName is the counter's name as the module defines it: the engine's
// name without the "btp." prefix, because the rendered bootstrap sets
// dynamic_module_config.metrics_namespace to "btp" (Envoy prefixes it), so
// /stats shows btp.ratelimit.over_limit and the like.
func StatName(c filter.Counter) string {
	return strings.TrimPrefix(c.Name(), "btp.")
}

func defineCounters(h shared.HttpFilterConfigHandle) *counterIDs {
	ids := &counterIDs{}
	for c := filter.Counter(0); c < filter.NumCounters; c++ {
		id, res := h.DefineCounter(StatName(c))
		if res != shared.MetricsSuccess {
			h.Log(shared.LogLevelWarn, "btp: counter %s not defined (metrics result %d); it will not be counted", StatName(c), res)
			continue
		}
		ids.id[c], ids.ok[c] = id, true
	}
	return ids
}
