// Command floor is benchload's dynamic-module floor: a Go dynamic module on
// the Envoy Go SDK (sdk/go and its abi package, the same pinned version
// plugin/dynmod's ABI header comes from) that serves the filter "btp", reads
// its per-route config on every request (GetMostSpecificConfig) and
// continues. It does nothing else, so what it costs over bare Envoy is what
// any Go dynamic module registered this way costs a request: the floor under
// btp's own host path. Built by `make bench-load` into
// build/out/floor/libbtp_module.so (the name the rendered bootstrap loads).
package main

import (
	sdk "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go"
	_ "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/abi" // exports envoy_dynamic_module_on_*
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
)

func init() {
	sdk.RegisterHttpFilterConfigFactories(map[string]shared.HttpFilterConfigFactory{"btp": configFactory{}})
}

func main() {}

type configFactory struct{}

func (configFactory) Create(shared.HttpFilterConfigHandle, []byte) (shared.HttpFilterFactory, error) {
	return factory{}, nil
}

// CreatePerRoute keeps the route's config bytes: the floor reads them, it
// does not parse them.
func (configFactory) CreatePerRoute(raw []byte) (any, error) {
	return &routeConfig{n: len(raw)}, nil
}

type routeConfig struct{ n int }

type factory struct{}

func (factory) Create(h shared.HttpFilterHandle) shared.HttpFilter { return &filter{h: h} }

type filter struct {
	shared.EmptyHttpFilter
	h      shared.HttpFilterHandle
	routed bool
}

func (f *filter) OnRequestHeaders(shared.HeaderMap, bool) shared.HeadersStatus {
	cfg, _ := f.h.GetMostSpecificConfig().(*routeConfig)
	f.routed = cfg != nil && cfg.n > 0
	return shared.HeadersStatusContinue
}
