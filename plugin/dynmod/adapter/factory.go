// Package adapter turns the Envoy dynamic-module Go SDK's callbacks into
// calls on envoy-btp's engine (package filter) and performs the engine's
// Actions with the SDK: local replies, stopping and resuming the stream,
// delays through the SDK's scheduler, counters through its metrics.
// plugin/dynmod registers it as filter "btp"; it is its own package so its
// tests link without Envoy (the SDK's abi package needs Envoy's symbols).
package adapter

import (
	"bytes"
	"fmt"
	"sync/atomic"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"

	"github.com/envoy-btp/envoy-btp/filter"
)

// FilterName is the name the bootstrap selects the filter by
// (DynamicModuleFilter.filter_name, DynamicModuleFilterPerRoute.per_route_config_name).
const FilterName = "btp"

// ConfigFactory parses the filter-level and per-route config.
type ConfigFactory struct{}

// Create parses the filter-level config (the defaults every route merges
// over). On an error the SDK logs it ("Failed to load configuration: btp
// filter config: <field path>: ...") and Envoy refuses the config.
func (ConfigFactory) Create(h shared.HttpFilterConfigHandle, raw []byte) (shared.HttpFilterFactory, error) {
	logger.Store(&h)
	cfg, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("btp filter config: %w", err)
	}
	return &Factory{defaults: cfg, ids: defineCounters(h)}, nil
}

// CreatePerRoute parses one route's config. On an error the SDK logs it
// ("Failed to load per-route configuration: btp per-route config: ...") and
// Envoy refuses the route config. (Envoy may parse route configs before any
// filter config, so there is no handle to log through here.)
func (ConfigFactory) CreatePerRoute(raw []byte) (any, error) {
	cfg, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("btp per-route config: %w", err)
	}
	return cfg, nil
}

func parse(raw []byte) (*filter.Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	return filter.ParseJSON(raw, filter.Options{Stats: &counts, Log: logPanic, HostReportsAttempts: true})
}

// Factory makes one Stream per request under one filter config.
type Factory struct {
	defaults *filter.Config
	ids      *counterIDs
}

// Create is called by Envoy for every request.
func (f *Factory) Create(h shared.HttpFilterHandle) shared.HttpFilter {
	return &Stream{h: h, f: f}
}

// logger is a config handle kept for logging outside a stream (any handle
// logs through the same process-wide Envoy logger).
var logger atomic.Pointer[shared.HttpFilterConfigHandle]

func logf(level shared.LogLevel, format string, args ...any) {
	if h := logger.Load(); h != nil {
		(*h).Log(level, format, args...)
	}
}

func logPanic(msg string) { logf(shared.LogLevelError, "%s", msg) }
