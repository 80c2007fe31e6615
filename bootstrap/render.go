// Package bootstrap renders a resolved policy.Model as a complete Envoy v3
// bootstrap: admin on loopback, one listener per port, virtual hosts and
// routes from HTTPRoutes and GRPCRoutes, one cluster per backend of each rule, every
// cluster- and route-level BackendTrafficPolicy field, and the btp filter
// (golang or dynamic-module host) carrying each route's enforcement config.
package bootstrap

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/envoy-btp/envoy-btp/policy"
)

// Host selects how Envoy runs the btp filter.
type Host string

const (
	// HostGolang is Envoy's contrib golang HTTP filter (the primary host).
	HostGolang Host = "golang"
	// HostDynamicModule is Envoy's dynamic-module HTTP filter (stock Envoy).
	HostDynamicModule Host = "dynamic-module"
)

// Defaults for Options.
const (
	DefaultLibraryPath = "/etc/envoy/libbtp.so"
	DefaultAdminPort   = 19000
	// DefaultRateLimitServiceURL is where Envoy Gateway runs envoyproxy/ratelimit.
	DefaultRateLimitServiceURL = "grpc://envoy-ratelimit.envoy-gateway-system.svc.cluster.local:8081"
)

// Options tunes what Render produces beyond the Model.
type Options struct {
	Host        Host   // default HostGolang
	LibraryPath string // golang host: the .so path; default DefaultLibraryPath
	AdminPort   uint32 // admin listener port on 127.0.0.1; default DefaultAdminPort
	// RateLimitServiceURL is grpc://HOST:PORT of the rate limit service used by
	// rateLimit.global; default DefaultRateLimitServiceURL.
	RateLimitServiceURL string
	// RateLimitFailClosed refuses requests (500) when the rate limit service
	// cannot answer (Envoy Gateway's EnvoyGateway rateLimit.failClosed);
	// default false: let them through.
	RateLimitFailClosed bool
	// RateLimitTimeout bounds each call to the rate limit service (Envoy
	// Gateway's EnvoyGateway rateLimit.timeout); 0 keeps Envoy's 20ms.
	RateLimitTimeout time.Duration
	// KeepGoing renders a rule whose policy the renderer refuses (every
	// error about the BackendTrafficPolicy) as a 500 direct response, as
	// Envoy Gateway does with a policy that fails translation, and reports
	// those errors in Rendered.Isolated instead of failing.
	KeepGoing bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Host == "" {
		o.Host = HostGolang
	}
	if o.Host != HostGolang && o.Host != HostDynamicModule {
		return o, fmt.Errorf("host %q: allowed %q or %q", o.Host, HostGolang, HostDynamicModule)
	}
	if o.LibraryPath == "" {
		o.LibraryPath = DefaultLibraryPath
	}
	if o.AdminPort == 0 {
		o.AdminPort = DefaultAdminPort
	}
	if o.AdminPort > 65535 {
		return o, fmt.Errorf("admin port %d: allowed 1-65535", o.AdminPort)
	}
	if o.RateLimitServiceURL == "" {
		o.RateLimitServiceURL = DefaultRateLimitServiceURL
	}
	if o.RateLimitTimeout < 0 {
		return o, fmt.Errorf("rate limit timeout %s: allowed a positive duration", o.RateLimitTimeout)
	}
	if _, _, err := rateLimitHostPort(o.RateLimitServiceURL); err != nil {
		return o, err
	}
	return o, nil
}

func rateLimitHostPort(raw string) (string, uint32, error) {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme == "grpc" && u.Hostname() != "" {
		if p, perr := strconv.ParseUint(u.Port(), 10, 16); perr == nil && p > 0 {
			return u.Hostname(), uint32(p), nil
		}
	}
	return "", 0, fmt.Errorf("rate limit service URL %q: allowed grpc://HOST:PORT", raw)
}

// Render builds the bootstrap for m. Every problem is reported (as a
// policy.ErrorList naming policy, route rule and field path); a bootstrap is
// returned only when there is none and it passes ValidateAll.
func Render(m *policy.Model, opts Options) (*bootstrapv3.Bootstrap, error) {
	out, err := RenderAll(m, opts)
	if err != nil {
		return nil, err
	}
	return out.Bootstrap, nil
}

// Rendered is everything one render of a Model produces.
type Rendered struct {
	Bootstrap *bootstrapv3.Bootstrap
	// RateLimit is the envoyproxy/ratelimit service config for
	// rateLimit.global: one per domain the bootstrap's ratelimit filters use,
	// sorted by domain; empty when no route has global rules.
	RateLimit []*RateLimitConfig
	// Isolated are the policy errors Options.KeepGoing rendered past: each
	// rule they belong to answers 500.
	Isolated policy.ErrorList
}

// RenderAll is Render plus the rate limit service config, built by the same
// walk over the routes.
func RenderAll(m *policy.Model, opts Options) (*Rendered, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &renderer{opts: o, clusters: map[string]*clusterv3.Cluster{}, secrets: map[string]*tlsv3.Secret{}}
	listeners := r.listeners(m)
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	if r.globalRateLimit {
		c, err := rateLimitServiceCluster(o.RateLimitServiceURL)
		if err != nil {
			return nil, err
		}
		r.addCluster(c)
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: "envoy-btp", Cluster: "envoy-btp"},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", o.AdminPort),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: listeners,
			Clusters:  r.sortedClusters(),
			Secrets:   r.sortedSecrets(),
		},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("rendered bootstrap is invalid (a bug in envoy-btp, please report it): %w", err)
	}
	sort.Strings(r.rateLimitDomains)
	out := &Rendered{Bootstrap: b, Isolated: r.isolated}
	for _, d := range r.rateLimitDomains {
		out.RateLimit = append(out.RateLimit, r.rateLimitConfigs[d])
	}
	return out, nil
}

// renderer accumulates what one Render call builds.
type renderer struct {
	opts     Options
	errs     policy.ErrorList
	isolated policy.ErrorList // KeepGoing: policy errors whose rules answer 500
	clusters map[string]*clusterv3.Cluster
	// secrets are the HTTPS listeners' certificates by name (NS/SECRET).
	secrets map[string]*tlsv3.Secret
	// globalRateLimit is set when any route uses rateLimit.global.
	globalRateLimit bool
	// rateLimitConfigs holds the rate limit service's config by domain, in
	// the order rateLimitDomains first saw them.
	rateLimitConfigs map[string]*RateLimitConfig
	rateLimitDomains []string
}

// port is one Envoy listener: every Gateway listener sharing a port.
type port struct {
	name      string
	number    int32
	vhosts    map[string]*routev3.VirtualHost
	vhostKeys []string
	// filters the HCM needs because some route on it uses them.
	btpFilter   bool
	compressors map[string]*hcmv3.HttpFilter
	// bandwidthRequest/Response: some route limits that direction.
	bandwidthRequest, bandwidthResponse bool
	// customResponses: Envoy's custom_response filter per rule whose
	// responseOverride has a redirect (customresponse.go).
	customResponses map[string]*hcmv3.HttpFilter
	// globalRateLimit: some route uses rateLimit.global; sharedDomains are
	// the shared rules' domains, each with its own ratelimit filter.
	globalRateLimit bool
	sharedDomains   map[string]bool
	// serviceDescriptors wait for addServiceDescriptors, in route order.
	serviceDescriptors []routeDescriptors
	tracing            bool
	grpc               bool // a GRPCRoute is attached: grpc_web and grpc_stats
	// tls is the HTTPS Gateway listener this port's filter chain is for
	// (nil for HTTP).
	tls *policy.Listener
}

func (r *renderer) listeners(m *policy.Model) []*listenerv3.Listener {
	ports := map[int32]*port{}   // HTTP: every Gateway listener on the port in one HCM
	https := map[int32][]*port{} // HTTPS: one filter chain per Gateway listener
	tcp := map[int32]*listenerv3.Listener{}
	var udp []*listenerv3.Listener
	tlsPorts := map[int32][]*policy.Listener{} // TLS passthrough, by SNI
	gwOf := map[*policy.Listener]string{}
	first := map[int32]*policy.Listener{}
	firstName := map[int32]string{}
	var order []int32
	for _, g := range m.Gateways {
		gw := g.Name.Namespace + "/" + g.Name.Name
		for _, l := range g.Listeners {
			name := gw + "/" + l.Name
			if isUDP(l) {
				// UDP ports are apart from TCP ones: a UDP listener may
				// share its number with an HTTP or TCP listener.
				if lis := r.udpListener(gw, l); lis != nil {
					udp = append(udp, lis)
				}
				continue
			}
			if f := first[l.Port]; f != nil {
				// Listeners share a port only when all are HTTP (told apart
				// by Host), all HTTPS or all TLS (told apart by SNI).
				if isTCP(l) || l.Protocol != f.Protocol {
					r.errs = append(r.errs, &policy.Error{Resource: "Gateway/" + gw,
						Msg: fmt.Sprintf("listener %s (%s): port %d is already taken by listener %s (%s): only HTTP, only HTTPS or only TLS listeners share a port", l.Name, l.Protocol, l.Port, firstName[l.Port], f.Protocol)})
					continue
				}
			} else {
				first[l.Port], firstName[l.Port] = l, name
				order = append(order, l.Port)
			}
			var p *port
			switch {
			case isTCP(l):
				tcp[l.Port] = r.tcpListener(gw, l)
				continue
			case l.Protocol == "TLS":
				tlsPorts[l.Port] = append(tlsPorts[l.Port], l)
				gwOf[l] = gw
				continue
			case l.TLS != nil:
				p = newPort(name, l.Port)
				p.tls = l
				https[l.Port] = append(https[l.Port], p)
			default:
				if p = ports[l.Port]; p == nil {
					p = newPort(name, l.Port)
					ports[l.Port] = p
				}
			}
			for _, rt := range l.Routes {
				for _, rule := range rt.Rules {
					r.rule(p, name, rt, rule)
				}
			}
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	out := make([]*listenerv3.Listener, 0, len(order))
	for _, n := range order {
		switch {
		case tcp[n] != nil:
			out = append(out, tcp[n])
		case len(tlsPorts[n]) > 0:
			if lis := r.tlsListener(gwOf, tlsPorts[n]); lis != nil {
				out = append(out, lis)
			}
		case len(https[n]) > 0:
			out = append(out, r.httpsListener(https[n]))
		case ports[n] != nil:
			out = append(out, r.listener(ports[n]))
		}
	}
	return append(out, udp...)
}

func newPort(name string, number int32) *port {
	return &port{name: name, number: number, vhosts: map[string]*routev3.VirtualHost{}, compressors: map[string]*hcmv3.HttpFilter{},
		customResponses: map[string]*hcmv3.HttpFilter{}}
}

// vhost returns the virtual host of p for hostname, creating it.
func (p *port) vhost(hostname string) *routev3.VirtualHost {
	if vh := p.vhosts[hostname]; vh != nil {
		return vh
	}
	vh := &routev3.VirtualHost{
		Name:    p.name + "/" + underscored(hostname),
		Domains: []string{hostname},
	}
	p.vhosts[hostname] = vh
	p.vhostKeys = append(p.vhostKeys, hostname)
	return vh
}

func (r *renderer) listener(p *port) *listenerv3.Listener {
	rc := &routev3.RouteConfiguration{Name: p.name, IgnorePortInHostMatching: true}
	// Specific hostnames before wildcards, "*" last, so Envoy's own
	// most-specific-domain matching and the file read the same way.
	keys := append([]string(nil), p.vhostKeys...)
	sort.SliceStable(keys, func(i, j int) bool { return hostRank(keys[i]) < hostRank(keys[j]) })
	for _, k := range keys {
		vh := p.vhosts[k]
		sortRoutes(vh.Routes)
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	p.addServiceDescriptors()

	// custom_response first, as Envoy Gateway orders it (httpfilters.go),
	// sorted by name like the compressors.
	filters := compressorFilters(p.customResponses)
	// btp (fault, buffer, local rate limit) before the global ratelimit
	// filters, as Envoy Gateway orders fault (2), buffer (12),
	// local_ratelimit (302) and ratelimit (303): a request btp refuses costs
	// the rate limit service nothing, and a global 429 comes back through
	// btp's response override like every other local reply.
	if p.btpFilter {
		filters = append(filters, r.btpFilter())
	}
	filters = append(filters, r.rateLimitFilters(p)...)
	// bandwidth_limit after ratelimit and before grpc_web, Envoy Gateway's
	// orders 304 and 305.
	filters = append(filters, bandwidthFilters(p)...)
	if p.grpc {
		filters = append(filters, grpcFilters()...)
	}
	filters = append(filters, compressorFilters(p.compressors)...)
	filters = append(filters, &hcmv3.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
	})
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     statPrefix(p),
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc},
		HttpFilters:    filters,
		// As Envoy Gateway does by default: the client address is the
		// connection's peer, never a client-supplied X-Forwarded-For, so
		// sourceCIDR rate limits and SourceIP hashing cannot be spoofed.
		UseRemoteAddress: wrapperspb.Bool(true),
	}
	if p.tracing {
		hcm.Tracing = &hcmv3.HttpConnectionManager_Tracing{}
	}
	return &listenerv3.Listener{
		Name:    p.name,
		Address: socketAddress("0.0.0.0", uint32(p.number)),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
		}},
	}
}

func hostRank(h string) int {
	switch {
	case h == "*":
		return 2
	case len(h) > 0 && h[0] == '*':
		return 1
	}
	return 0
}

func (r *renderer) addCluster(c *clusterv3.Cluster) string {
	name := c.Name
	for i := 2; ; i++ {
		old, ok := r.clusters[c.Name]
		if !ok {
			r.clusters[c.Name] = c
			return c.Name
		}
		if proto.Equal(old, c) {
			return c.Name
		}
		// The same rule under two listeners with different effective
		// policies needs two clusters.
		c.Name = fmt.Sprintf("%s/%d", name, i)
		if la := c.GetLoadAssignment(); la != nil {
			la.ClusterName = c.Name
		}
	}
}

func (r *renderer) sortedClusters() []*clusterv3.Cluster {
	names := make([]string, 0, len(r.clusters))
	for n := range r.clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*clusterv3.Cluster, len(names))
	for i, n := range names {
		out[i] = r.clusters[n]
	}
	return out
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// mustAny packs a message built here; it cannot fail for generated types.
// Deterministic, so the same input packs to the same bytes: btp serve then
// pushes only what changed, an unchanged listener is no listener update
// (no drain), and an unchanged rule's per-route config is byte-identical.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(err)
	}
	return a
}
