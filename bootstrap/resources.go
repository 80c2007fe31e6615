package bootstrap

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// Resources is a render in xDS form: what the static bootstrap inlines,
// named and referenced over ADS instead. HCMs name their route
// configuration (RDS), STATIC clusters are EDS clusters whose endpoints are
// in Endpoints, TLS certificates are SDS secrets; DNS clusters keep their
// inline endpoints (Envoy resolves them itself).
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// ADSConfigSource is the config source of every resource a Resources
// references: the ADS stream the Envoy already has.
func ADSConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// Resources splits the rendered static bootstrap into xDS resources, so the
// served snapshot and `btp render` are one render and cannot drift. The
// bootstrap is not modified.
func (r *Rendered) Resources() (*Resources, error) {
	return splitStatic(r.Bootstrap.GetStaticResources())
}

func splitStatic(sr *bootstrapv3.Bootstrap_StaticResources) (*Resources, error) {
	out := &Resources{}
	for _, l := range sr.GetListeners() {
		l = proto.Clone(l).(*listenerv3.Listener)
		chains := append([]*listenerv3.FilterChain(nil), l.FilterChains...)
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain)
		}
		for _, fc := range chains {
			for _, f := range fc.Filters {
				rc, err := toRDS(f)
				if err != nil {
					return nil, fmt.Errorf("listener %s: %w", l.Name, err)
				}
				if rc != nil {
					out.Routes = append(out.Routes, rc)
				}
			}
			if err := toSDS(fc.TransportSocket); err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		out.Listeners = append(out.Listeners, l)
	}
	for _, c := range sr.GetClusters() {
		c = proto.Clone(c).(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_STATIC && c.GetClusterType() == nil {
			la := c.LoadAssignment
			la.ClusterName = c.Name
			c.LoadAssignment = nil
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
			c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ADSConfigSource()}
			out.Endpoints = append(out.Endpoints, la)
		}
		out.Clusters = append(out.Clusters, c)
	}
	for _, s := range sr.GetSecrets() {
		out.Secrets = append(out.Secrets, proto.Clone(s).(*tlsv3.Secret))
	}
	return out, nil
}

// toRDS replaces the inline route configuration of an HTTP connection
// manager filter by its name over ADS and returns it; nil for other filters.
func toRDS(f *listenerv3.Filter) (*routev3.RouteConfiguration, error) {
	a := f.GetTypedConfig()
	if a == nil || !a.MessageIs(&hcmv3.HttpConnectionManager{}) {
		return nil, nil
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := a.UnmarshalTo(hcm); err != nil {
		return nil, err
	}
	rc := hcm.GetRouteConfig()
	if rc == nil {
		return nil, nil
	}
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
		ConfigSource:    ADSConfigSource(),
		RouteConfigName: rc.Name,
	}}
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}
	return rc, nil
}

// toSDS points a downstream TLS context's certificates at SDS over ADS:
// statically they name static_resources.secrets.
func toSDS(ts *corev3.TransportSocket) error {
	a := ts.GetTypedConfig()
	if a == nil || !a.MessageIs(&tlsv3.DownstreamTlsContext{}) {
		return nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := a.UnmarshalTo(ctx); err != nil {
		return err
	}
	for _, s := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		if s.SdsConfig == nil {
			s.SdsConfig = ADSConfigSource()
		}
	}
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}
	return nil
}
