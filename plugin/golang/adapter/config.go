// Package adapter is the golang-filter host of the btp engine: it adapts
// Envoy's golang HTTP filter API (api.StreamFilter, the config parser) to
// filter.Config and filter.Stream, and performs the engine's Actions with
// the SDK's callbacks.
//
// It is a package of its own, apart from the .so's package main, because
// the SDK's registration package calls into Envoy when it initialises:
// anything that imports it can only run inside Envoy. This package imports
// only the SDK's interfaces (contrib/golang/common/go/api), so its tests run
// with fakes of those interfaces.
package adapter

import (
	"fmt"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/envoy-btp/envoy-btp/filter"
)

// logError sends config-level messages (panics the engine recovered) to
// Envoy's log. A variable so tests, which have no Envoy, can capture them.
var logError = func(msg string) { api.LogError(msg) }

// ConfigParser turns the filter-level and per-route Any into *filter.Config.
type ConfigParser struct{}

var _ api.StreamFilterConfigParser = ConfigParser{}

// Parse is called for the filter-level config (callbacks set: the stats are
// defined there) and for each per-route config (callbacks nil; the route's
// config takes its stats from the filter level in Merge). A refused
// filter-level config is an error: Envoy refuses the listener and logs it.
// A refused per-route config is not (invalid.go): Envoy may be parsing it
// at the route's first request, where an error stops Envoy; its route
// answers 500 instead.
func (ConfigParser) Parse(a *anypb.Any, callbacks api.ConfigCallbackHandler) (any, error) {
	opts := filter.Options{Log: func(msg string) { logError(msg) }}
	if callbacks != nil {
		opts.Stats = defineStats(callbacks)
	}
	// `btp check` runs this same filter.ParseAny on a bootstrap's configs.
	cfg, err := filter.ParseAny(a, opts)
	if err != nil {
		err = fmt.Errorf("btp: %w", err)
		if callbacks == nil {
			return &invalidConfig{r: &refusal{err: err}}, nil
		}
		return nil, err
	}
	return cfg, nil
}

// Merge lays a more specific config (virtual host, route) over its parent.
// Envoy caches the result per route, and filter.Merge caches it too. A
// refused config anywhere on the way makes the route's config invalid.
func (ConfigParser) Merge(parent, child any) any {
	if c, ok := child.(*invalidConfig); ok {
		return c.merged(parent)
	}
	if p, ok := parent.(*invalidConfig); ok {
		return p
	}
	p, _ := parent.(*filter.Config)
	c, _ := child.(*filter.Config)
	return filter.Merge(p, c)
}
