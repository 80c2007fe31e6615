// Command golang is envoy-btp's golang-filter host: built with
// -buildmode=c-shared it is the libbtp.so that Envoy's contrib golang HTTP
// filter (envoy.filters.http.golang) loads under the plugin name "btp".
// The adapter package does the work; this package only registers it.
package main

import (
	sdk "github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	"github.com/envoy-btp/envoy-btp/plugin/golang/adapter"
)

// PluginName is the plugin_name Envoy's golang filter config must carry.
const PluginName = "btp"

func init() {
	sdk.RegisterHttpFilterFactoryAndConfigParser(PluginName, adapter.NewStreamFilter, adapter.ConfigParser{})
}

// main is never run: Envoy dlopens the library and calls its exports.
func main() {}
