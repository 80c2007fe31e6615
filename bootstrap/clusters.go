package bootstrap

import (
	"fmt"
	"sort"
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	dnsclusterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/envoy-btp/envoy-btp/policy"
)

// Envoy Gateway's cluster defaults, kept so a rendered cluster behaves like
// the one Envoy Gateway would program.
const (
	defaultConnectTimeout     = 10 * time.Second
	defaultConnBufferLimit    = 32768
	defaultDNSRefreshRate     = 30 * time.Second
	httpProtocolOptionsKey    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	dnsClusterExtensionName   = "envoy.cluster.dns"
	defaultMaxParallelRetries = 1024
)

// clusterTemplate is what the policy says about every cluster of a rule;
// each backend's cluster is a copy with its name and endpoints.
type clusterTemplate struct {
	cluster  *clusterv3.Cluster
	protocol *httpv3.HttpProtocolOptions // nil until a feature needs it
	dns      *dnsclusterv3.DnsCluster    // settings for hostname backends
	hcPort   uint32                      // healthCheck.active.overrides.port
	// http2 is set when the backend must speak HTTP/2 (GRPCRoute
	// backends, gRPC health checks); protocolCluster's explicit choice wins.
	// zonal groups endpoints into one locality per zone (zoneAware).
	http2 bool
	zonal bool
	// zoneWeights weighs each zone's locality (weightedZones; 1 if unlisted).
	zoneWeights map[string]uint32
}

func (t *clusterTemplate) protocolOptions() *httpv3.HttpProtocolOptions {
	if t.protocol == nil {
		t.protocol = &httpv3.HttpProtocolOptions{}
	}
	return t.protocol
}

func (t *clusterTemplate) common() *corev3.HttpProtocolOptions {
	p := t.protocolOptions()
	if p.CommonHttpProtocolOptions == nil {
		p.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{}
	}
	return p.CommonHttpProtocolOptions
}

// backends renders the rule's clusters and its route action: one cluster for
// a single backend, weighted clusters for several, a 500 for none (as the
// Gateway API asks of a rule with no usable backend).
func (c *ruleCtx) backends(base string) {
	var live []int
	for i, b := range c.rule.Backends {
		if b.Weight > 0 {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		c.route.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}}
		return
	}
	// One template per upstream protocol the backends' appProtocols ask
	// for; the first one reports the policy's errors, if any.
	templates := map[upstreamProtocol]*clusterTemplate{}
	template := func(b *policy.Backend) *clusterTemplate {
		p := c.upstreamProtocol(b)
		if templates[p] == nil {
			templates[p] = c.template(p)
		}
		return templates[p]
	}
	for _, i := range live {
		if template(c.rule.Backends[i]) == nil {
			return
		}
	}
	c.action = &routev3.RouteAction{}
	if len(live) == 1 && !hasBackendFilters(c) {
		b := c.rule.Backends[live[0]]
		name := c.r.addCluster(template(b).build(base, b))
		c.action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: name}
		return
	}
	wc := &routev3.WeightedCluster{}
	for _, i := range live {
		b := c.rule.Backends[i]
		name := c.r.addCluster(template(b).build(fmt.Sprintf("%s/backend/%d", base, i), b))
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: name, Weight: u32(uint32(b.Weight))})
	}
	c.action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
}

// upstreamProtocol is what a backend asks of its cluster's protocol.
type upstreamProtocol int

const (
	protocolDefault upstreamProtocol = iota
	protocolHTTP2                    // h2c or gRPC
	protocolHTTP1                    // WebSocket: forced to HTTP/1.1
)

// upstreamProtocol reads a backend's appProtocol as Envoy Gateway's
// resolveBackendProtocol and shouldForceHTTP1Upstream do, for HTTPRoute
// rules (a GRPCRoute's backends always speak gRPC).
func (c *ruleCtx) upstreamProtocol(b *policy.Backend) upstreamProtocol {
	if c.rule.GRPC != nil {
		return protocolDefault
	}
	switch b.AppProtocol {
	case "kubernetes.io/h2c", string(egv1a1.AppProtocolTypeH2C), "grpc":
		return protocolHTTP2
	case "kubernetes.io/ws", "kubernetes.io/wss", string(egv1a1.AppProtocolTypeWS), string(egv1a1.AppProtocolTypeWSS):
		return protocolHTTP1
	}
	return protocolDefault
}

// template applies every cluster-level field of the rule's policy once
// (per upstream protocol).
func (c *ruleCtx) template(up upstreamProtocol) *clusterTemplate {
	t := &clusterTemplate{cluster: &clusterv3.Cluster{
		ConnectTimeout:                durationpb.New(defaultConnectTimeout),
		PerConnectionBufferLimitBytes: u32(defaultConnBufferLimit),
		IgnoreHealthOnHostRemoval:     true,
	}, http2: c.rule.GRPC != nil || up == protocolHTTP2}
	before := len(*c.list)
	loadBalancerCluster(c, t)
	endpointOverrideCluster(c, t)
	circuitBreakerCluster(c, t)
	healthCheckCluster(c, t)
	outlierCluster(c, t)
	timeoutCluster(c, t)
	keepaliveCluster(c, t)
	proxyProtocolCluster(c, t)
	protocolCluster(c, t)
	dnsCluster(c, t)
	connectionCluster(c, t)
	admissionControlCluster(c, t)
	if len(*c.list) > before {
		return nil
	}
	if up == protocolHTTP1 && (c.spec.UseClientProtocol == nil || !*c.spec.UseClientProtocol) {
		// WebSocket over HTTP/2 is rarely served: Envoy Gateway forces
		// HTTP/1.1 here, over the policy's http2 and gRPC health checks.
		t.http2 = false
		t.protocolOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			},
		}
	}
	if t.http2 && (t.protocol == nil || t.protocol.UpstreamProtocolOptions == nil) {
		t.protocolOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					InitialStreamWindowSize:     u32(http2StreamWindow),
					InitialConnectionWindowSize: u32(http2ConnectionWindow),
				}},
			},
		}
	}
	if t.protocol != nil {
		if t.protocol.UpstreamProtocolOptions == nil {
			t.protocol.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{},
				},
			}
		}
		t.cluster.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(t.protocol)}
	}
	return t
}

// build copies the template for one backend: static addresses, or Envoy's
// DNS cluster when any endpoint is a hostname.
func (t *clusterTemplate) build(name string, b *policy.Backend) *clusterv3.Cluster {
	c := proto.Clone(t.cluster).(*clusterv3.Cluster)
	c.Name = name
	dns := false
	var localities []*endpointv3.LocalityLbEndpoints
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	for _, e := range b.Endpoints {
		dns = dns || e.Hostname
		ep := &endpointv3.Endpoint{Address: socketAddress(e.Address, e.Port)}
		if t.hcPort != 0 {
			ep.HealthCheckConfig = &endpointv3.Endpoint_HealthCheckConfig{PortValue: t.hcPort}
		}
		lb := &endpointv3.LbEndpoint{
			HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: ep},
			LoadBalancingWeight: u32(1),
		}
		if e.Draining {
			// An EndpointSlice endpoint that is terminating or not ready:
			// Envoy Gateway keeps it, draining.
			lb.HealthStatus = corev3.HealthStatus_DRAINING
		}
		zone := ""
		if t.zonal {
			zone = e.Zone
		}
		l := byZone[zone]
		if l == nil {
			l = &endpointv3.LocalityLbEndpoints{}
			if t.zonal {
				l.Locality = &corev3.Locality{Zone: zone}
			}
			if t.zoneWeights != nil {
				w, ok := t.zoneWeights[zone]
				if !ok {
					w = 1
				}
				l.LoadBalancingWeight = u32(w)
			}
			byZone[zone] = l
			localities = append(localities, l)
		}
		l.LbEndpoints = append(l.LbEndpoints, lb)
	}
	if len(localities) == 0 {
		localities = []*endpointv3.LocalityLbEndpoints{{}}
	}
	// One locality per zone, sorted by zone, as Envoy Gateway's
	// buildZonalLocalities does.
	sort.SliceStable(localities, func(i, j int) bool {
		return localities[i].GetLocality().GetZone() < localities[j].GetLocality().GetZone()
	})
	c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints:   localities,
	}
	if dns {
		d := t.dns
		if d == nil {
			d = defaultDNSCluster()
		}
		c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name:        dnsClusterExtensionName,
			TypedConfig: mustAny(d),
		}}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	}
	return c
}
