// Package adapter turns the Envoy dynamic-module host's callbacks
// (plugin/dynmod, which implements Envoy's ABI hooks) into calls on
// envoy-btp's engine (package filter) and performs the engine's Actions
// through a small Handle: local replies, stopping and resuming the stream,
// delays, counters. It is its own package so its tests link without Envoy.
package adapter

import (
	"fmt"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter"
)

// FilterName is the name the bootstrap selects the filter by
// (DynamicModuleFilter.filter_name, DynamicModuleFilterPerRoute.per_route_config_name).
const FilterName = "btp"

// NewFactory parses the filter-level config (the defaults every route
// merges over) and defines the engine's counters. On an error Envoy
// refuses the config; the host logs the error, which names the field.
func NewFactory(h ConfigHandle, raw []byte) (*Factory, error) {
	cfg, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("btp filter config: %w", err)
	}
	return &Factory{defaults: cfg, ids: defineCounters(h)}, nil
}

// ParseRouteConfig parses one route's config. On an error Envoy refuses
// the route config.
func ParseRouteConfig(raw []byte) (*filter.Config, error) {
	cfg, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("btp per-route config: %w", err)
	}
	return cfg, nil
}

// parse takes the bytes Envoy passes: JSON, or a serialized
// udpa.type.v1.TypedStruct (config.ParseBytes).
func parse(raw []byte) (*filter.Config, error) {
	c, err := config.LoadBytes(raw) // `btp check` runs the same
	if err != nil {
		return nil, err
	}
	return filter.NewConfig(c, filter.Options{Stats: &counts, Log: logPanic, HostAddsRateLimitHeaders: true}), nil
}

// Factory is one filter config: the defaults and Envoy's counter ids.
type Factory struct {
	defaults *filter.Config
	ids      *counterIDs
}

// Inert reports whether the filter-level defaults enforce nothing.
func (f *Factory) Inert() bool { return f.defaults.Inert() }

func logPanic(msg string) { Log(LevelError, msg) }
