package bootstrap

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// XDSClusterName is the static cluster of an xDS bootstrap: the btp serve
// ADS server.
const XDSClusterName = "btp-xds"

// Reconnect backoff of the ADS stream: short, so an Envoy picks up a
// restarted `btp serve` within about a second.
const (
	xdsBackoffBase = 250 * time.Millisecond
	xdsBackoffMax  = 2 * time.Second
)

// XDSOptions tunes RenderXDS.
type XDSOptions struct {
	// ServerURL is grpc://HOST:PORT of `btp serve --xds-addr`.
	ServerURL string
	NodeID    string // default "envoy-btp"
	Cluster   string // default "envoy-btp"
	AdminPort uint32 // on 127.0.0.1; default DefaultAdminPort
	// Delta makes the ADS stream incremental (DELTA_GRPC): only changed
	// resources are sent. Default state of the world.
	Delta bool
}

// RenderXDS builds the small bootstrap an Envoy starts with to take all of
// its listeners, routes, clusters, endpoints and secrets from `btp serve`
// over ADS. Nothing else is static: the btp filter (either host) is
// configured inside the HTTP connection managers the server sends.
func RenderXDS(o XDSOptions) (*bootstrapv3.Bootstrap, error) {
	u, err := url.Parse(o.ServerURL)
	host, port := "", uint64(0)
	if err == nil && u.Scheme == "grpc" && u.Hostname() != "" && (u.Path == "" || u.Path == "/") {
		host = u.Hostname()
		port, err = strconv.ParseUint(u.Port(), 10, 16)
	}
	if host == "" || err != nil || port == 0 {
		return nil, fmt.Errorf("xds server URL %q: allowed grpc://HOST:PORT", o.ServerURL)
	}
	if o.NodeID == "" {
		o.NodeID = "envoy-btp"
	}
	if o.Cluster == "" {
		o.Cluster = "envoy-btp"
	}
	if o.AdminPort == 0 {
		o.AdminPort = DefaultAdminPort
	}
	if o.AdminPort > 65535 {
		return nil, fmt.Errorf("admin port %d: allowed 1-65535", o.AdminPort)
	}
	api := corev3.ApiConfigSource_GRPC
	if o.Delta {
		api = corev3.ApiConfigSource_DELTA_GRPC
	}
	typ := clusterv3.Cluster_STATIC
	if _, err := netip.ParseAddr(host); err != nil {
		typ = clusterv3.Cluster_STRICT_DNS
	}
	xds := &clusterv3.Cluster{
		Name:                 XDSClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: typ},
		ConnectTimeout:       durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					// A server that vanished without closing the
					// connection is noticed within seconds.
					ConnectionKeepalive: &corev3.KeepaliveSettings{
						Interval: durationpb.New(5 * time.Second),
						Timeout:  durationpb.New(5 * time.Second),
					},
				}},
			}},
		})},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: XDSClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: socketAddress(host, uint32(port)),
				}},
			}}}},
		},
	}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.NodeID, Cluster: o.Cluster},
		Admin: &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", o.AdminPort)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   api,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
					ClusterName: XDSClusterName,
					RetryPolicy: &corev3.RetryPolicy{RetryBackOff: &corev3.BackoffStrategy{
						BaseInterval: durationpb.New(xdsBackoffBase),
						MaxInterval:  durationpb.New(xdsBackoffMax),
					}},
				}}}},
			},
			LdsConfig: ADSConfigSource(),
			CdsConfig: ADSConfigSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xds}},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("rendered xDS bootstrap is invalid (a bug in envoy-btp, please report it): %w", err)
	}
	return b, nil
}

// XDSComment is the header `btp render --xds` puts above the YAML.
func XDSComment(o XDSOptions) string {
	return "# Rendered by `btp render --xds " + o.ServerURL + "`: this Envoy takes its listeners, routes,\n" +
		"# clusters, endpoints and secrets from `btp serve` over ADS. Run it with\n" +
		"# --drain-strategy gradual --drain-time-s 5 (listeners btp serve removes or changes drain\n" +
		"# for that long); give every Envoy of a fleet its own --node-id.\n" +
		StopHint(o.AdminPort)
}
