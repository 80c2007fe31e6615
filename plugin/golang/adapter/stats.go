package adapter

import (
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// ConfigInvalidCounter counts requests answered 500 because their route's
// btp config was refused (invalid.go). It is this host's own: the
// dynamic-module host refuses such a config at load instead.
const ConfigInvalidCounter = "btp.config.invalid"

// stats backs the engine's counters with Envoy counters defined through the
// SDK's metric API, so they show on the admin /stats page as btp.*.
type stats struct {
	engine  [filter.NumCounters]api.CounterMetric
	invalid api.CounterMetric
}

func defineStats(cb api.ConfigCallbackHandler) *stats {
	var s stats
	for c := range filter.NumCounters {
		s.engine[c] = cb.DefineCounterMetric(c.Name())
	}
	s.invalid = cb.DefineCounterMetric(ConfigInvalidCounter)
	return &s
}

func (s *stats) Inc(c filter.Counter) {
	if c < filter.NumCounters {
		s.engine[c].Increment(1)
	}
}
