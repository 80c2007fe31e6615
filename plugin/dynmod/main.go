// Command dynmod is envoy-btp's engine as an Envoy dynamic module
// (`make dynmod` -> build/out/libbtp_module.so). Envoy loads it for
// dynamic_module_config.name "btp_module" and selects the filter "btp";
// see docs/dynmod.md.
package main

import (
	sdk "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go"
	_ "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/abi" // exports envoy_dynamic_module_on_*
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"

	"github.com/envoy-btp/envoy-btp/plugin/dynmod/adapter"
)

func init() {
	sdk.RegisterHttpFilterConfigFactories(map[string]shared.HttpFilterConfigFactory{
		adapter.FilterName: adapter.ConfigFactory{},
	})
}

func main() {}
