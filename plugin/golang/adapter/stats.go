package adapter

import (
	"sync/atomic"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// ConfigInvalidCounter counts requests answered 500 because their route's
// btp config was refused (invalid.go). It is this host's own: the
// dynamic-module host refuses such a config at load instead.
const ConfigInvalidCounter = "btp.config.invalid"

// statsFlushEvery is how long counts wait in Go before they reach Envoy's
// counters. Each increment through the SDK is a call into Envoy, which takes
// the filter config's mutex (shared by every worker); counted in Go and
// flushed in one call per counter at most this often, a request makes none.
// The admin /stats page lags by at most this much.
const statsFlushEvery = time.Second

// batchCounts is false only in tests that read counters right after a
// request (each increment then goes to Envoy at once).
var batchCounts = true

// stats backs the engine's counters with Envoy counters defined through the
// SDK's metric API, so they show on the admin /stats page as btp.*.
type stats struct {
	metrics [filter.NumCounters + 1]api.CounterMetric // the engine's, then invalid
	pending [filter.NumCounters + 1]atomic.Int64
	armed   atomic.Bool // a flush is scheduled
}

// invalid is the index of btp.config.invalid in metrics and pending.
const invalid = int(filter.NumCounters)

func defineStats(cb api.ConfigCallbackHandler) *stats {
	var s stats
	for c := range filter.NumCounters {
		s.metrics[c] = cb.DefineCounterMetric(c.Name())
	}
	s.metrics[invalid] = cb.DefineCounterMetric(ConfigInvalidCounter)
	return &s
}

func (s *stats) Inc(c filter.Counter) {
	if c < filter.NumCounters {
		s.add(int(c))
	}
}

func (s *stats) add(i int) {
	if !batchCounts {
		s.metrics[i].Increment(1)
		return
	}
	s.pending[i].Add(1)
	if !s.armed.Load() && s.armed.CompareAndSwap(false, true) {
		time.AfterFunc(statsFlushEvery, s.flush)
	}
}

// flush hands the pending counts to Envoy, from the timer's goroutine (the
// golang filter's metric calls take a lock and may come from any thread).
// If Envoy dropped the filter config meanwhile, the SDK's call panics: its
// counters are gone, and so are these counts.
func (s *stats) flush() {
	defer func() { _ = recover() }()
	s.armed.Store(false) // first: a count added during the flush arms the next one
	for i := range s.pending {
		if n := s.pending[i].Swap(0); n > 0 {
			s.metrics[i].Increment(n)
		}
	}
}
