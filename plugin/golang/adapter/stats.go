package adapter

import (
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// stats backs the engine's counters with Envoy counters defined through the
// SDK's metric API, so they show on the admin /stats page as btp.*.
type stats [filter.NumCounters]api.CounterMetric

func defineStats(cb api.ConfigCallbackHandler) *stats {
	var s stats
	for c := range filter.NumCounters {
		s[c] = cb.DefineCounterMetric(c.Name())
	}
	return &s
}

func (s *stats) Inc(c filter.Counter) {
	if c < filter.NumCounters {
		s[c].Increment(1)
	}
}
