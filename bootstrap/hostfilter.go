package bootstrap

import (
	"encoding/json"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dynmodv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dynmodfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/envoy-btp/envoy-btp/config"
)

// Fixed project-wide names the .so files register under.
const (
	GolangFilterName        = "envoy.filters.http.golang"
	GolangLibraryID         = "btp"
	GolangPluginName        = "btp"
	DynamicModuleFilterName = "envoy.filters.http.dynamic_modules"
	DynamicModuleName       = "btp_module" // Envoy loads libbtp_module.so
	DynamicModuleFilter     = "btp"
)

// btpFilter is the listener's btp filter for the selected host, with empty
// filter-level defaults: every setting comes from the routes.
func (r *renderer) btpFilter() *hcmv3.HttpFilter {
	if r.opts.Host == HostGolang {
		return &hcmv3.HttpFilter{
			Name: GolangFilterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&golangv3alpha.Config{
				LibraryId:    GolangLibraryID,
				LibraryPath:  r.opts.LibraryPath,
				PluginName:   GolangPluginName,
				PluginConfig: mustAny(&xdstypev3.TypedStruct{Value: &structpb.Struct{}}),
			})},
		}
	}
	return &hcmv3.HttpFilter{
		Name: DynamicModuleFilterName,
		// Disabled in the chain; each route with a policy enables it
		// (perRouteFilterConfig), as Envoy Gateway places its optional
		// filters. Envoy then creates no module filter for a route without
		// a policy, which costs what bare Envoy does (BENCHMARKS.md,
		// module-off); the defaults are {}, so the filter had nothing to do
		// there.
		Disabled: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&dynmodfilterv3.DynamicModuleFilter{
			// metrics_namespace names the module's stats btp.* (Envoy >= 1.38).
			DynamicModuleConfig: &dynmodv3.DynamicModuleConfig{Name: DynamicModuleName, DoNotClose: true, MetricsNamespace: "btp"},
			FilterName:          DynamicModuleFilter,
			FilterConfig:        mustAny(wrapperspb.String("{}")),
		})},
	}
}

func moduleConfig() *dynmodv3.DynamicModuleConfig {
	return &dynmodv3.DynamicModuleConfig{Name: DynamicModuleName, DoNotClose: true}
}

// perRouteFilterConfig wraps p for the selected host: a TypedStruct inside
// the golang filter's ConfigsPerRoute, or the JSON as a StringValue inside
// DynamicModuleFilterPerRoute inside the FilterConfig that enables the
// disabled module filter for the route.
func (r *renderer) perRouteFilterConfig(p *config.Policy) (string, *anypb.Any, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return "", nil, err
	}
	if r.opts.Host == HostGolang {
		var s structpb.Struct
		if err := s.UnmarshalJSON(raw); err != nil {
			return "", nil, err
		}
		return GolangFilterName, mustAny(&golangv3alpha.ConfigsPerRoute{PluginsConfig: map[string]*golangv3alpha.RouterPlugin{
			GolangPluginName: {Override: &golangv3alpha.RouterPlugin_Config{Config: mustAny(&xdstypev3.TypedStruct{Value: &s})}},
		}}), nil
	}
	return DynamicModuleFilterName, mustAny(&routev3.FilterConfig{Config: mustAny(&dynmodfilterv3.DynamicModuleFilterPerRoute{
		DynamicModuleConfig: moduleConfig(),
		// per_route_config_name, not filter_name: Envoy 1.37 knows only it.
		PerRouteConfigName: DynamicModuleFilter,
		FilterConfig:       mustAny(wrapperspb.String(string(raw))),
	})}), nil
}
