// Package fromxds builds lbhash's model of a route from the Envoy config
// Envoy actually runs (a bootstrap's static routes and clusters), so the
// prediction follows whatever was rendered: hash policies, weighted
// clusters, Maglev or ring hash settings, endpoint order, weights and
// localities. Anything that would make Envoy's choice differ from the model
// (bounded loads, priorities, DNS-resolved endpoints, ...) is an error that
// names the setting, never a silent approximation.
package fromxds

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/envoy-btp/envoy-btp/lbhash"
)

const (
	maglevPolicy   = "envoy.extensions.load_balancing_policies.maglev.v3.Maglev"
	ringHashPolicy = "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash"
	httpOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// Routes returns every route in the bootstrap's static listeners whose
// name satisfies match, in listener order.
func Routes(b *bootstrapv3.Bootstrap, match func(name string) bool) ([]*routev3.Route, error) {
	var out []*routev3.Route
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm, err := connectionManager(f)
				if err != nil || hcm == nil {
					if err != nil {
						return nil, fmt.Errorf("listener %q: %w", l.GetName(), err)
					}
					continue
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						if match(r.GetName()) {
							out = append(out, r)
						}
					}
				}
			}
		}
	}
	return out, nil
}

// TrustsForwardedFor reports whether the connection manager serving the
// named route takes the client address from X-Forwarded-For (Envoy's
// default, use_remote_address false) rather than from the connection: the
// address SourceIP hashes is then the last X-Forwarded-For entry a client
// sends.
func TrustsForwardedFor(b *bootstrapv3.Bootstrap, routeName string) (bool, error) {
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm, err := connectionManager(f)
				if err != nil {
					return false, fmt.Errorf("listener %q: %w", l.GetName(), err)
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						if r.GetName() != routeName {
							continue
						}
						if len(hcm.GetOriginalIpDetectionExtensions()) > 0 {
							return false, fmt.Errorf("listener %q: original_ip_detection_extensions: not modelled", l.GetName())
						}
						return !hcm.GetUseRemoteAddress().GetValue(), nil
					}
				}
			}
		}
	}
	return false, fmt.Errorf("route %q not found", routeName)
}

func connectionManager(f *listenerv3.Filter) (*hcmv3.HttpConnectionManager, error) {
	a := f.GetTypedConfig()
	if a == nil || a.MessageName() != "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" {
		return nil, nil
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := a.UnmarshalTo(hcm); err != nil {
		return nil, err
	}
	return hcm, nil
}

// Clusters indexes the bootstrap's static clusters by name.
func Clusters(b *bootstrapv3.Bootstrap) map[string]*clusterv3.Cluster {
	m := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		m[c.GetName()] = c
	}
	return m
}

// Route builds the model of route r, whose clusters are looked up in
// clusters.
func Route(r *routev3.Route, clusters map[string]*clusterv3.Cluster) (*lbhash.Route, error) {
	where := fmt.Sprintf("route %q", r.GetName())
	a := r.GetRoute()
	if a == nil {
		return nil, fmt.Errorf("%s: not a forwarding route (no route action)", where)
	}
	out := &lbhash.Route{}
	var err error
	if out.Policies, err = policies(a.GetHashPolicy()); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	switch spec := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		c, err := cluster(spec.Cluster, clusters)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out.Clusters = []lbhash.Cluster{*c}
	case *routev3.RouteAction_WeightedClusters:
		wc := spec.WeightedClusters
		if wc.GetRuntimeKeyPrefix() != "" {
			return nil, fmt.Errorf("%s: weighted_clusters.runtime_key_prefix %q: runtime weights are not modelled", where, wc.GetRuntimeKeyPrefix())
		}
		switch rv := wc.GetRandomValueSpecifier().(type) {
		case nil:
		case *routev3.WeightedCluster_UseHashPolicy:
			out.HashPicksCluster = rv.UseHashPolicy.GetValue()
		case *routev3.WeightedCluster_HeaderName:
			return nil, fmt.Errorf("%s: weighted_clusters.header_name %q: not modelled; allowed use_hash_policy", where, rv.HeaderName)
		}
		for i, cw := range wc.GetClusters() {
			if cw.GetClusterHeader() != "" {
				return nil, fmt.Errorf("%s: weighted_clusters.clusters[%d].cluster_header: not modelled", where, i)
			}
			c, err := cluster(cw.GetName(), clusters)
			if err != nil {
				return nil, fmt.Errorf("%s: weighted_clusters.clusters[%d]: %w", where, i, err)
			}
			c.Weight = cw.GetWeight().GetValue()
			out.Clusters = append(out.Clusters, *c)
		}
	default:
		return nil, fmt.Errorf("%s: cluster specifier %T: allowed cluster or weighted_clusters", where, spec)
	}
	if err := retry(out, a.GetRetryPolicy()); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return out, nil
}

// retry reads the route's retry_policy: how many retries, and whether a
// retry avoids the hosts already tried.
func retry(out *lbhash.Route, rp *routev3.RetryPolicy) error {
	if rp == nil {
		return nil
	}
	out.Retries = 1 // Envoy's default num_retries
	if n := rp.GetNumRetries(); n != nil {
		out.Retries = n.GetValue()
	}
	out.HostSelectionAttempts = 1 // Envoy's default
	if n := rp.GetHostSelectionRetryMaxAttempts(); n != 0 {
		out.HostSelectionAttempts = uint32(min(n, 1<<31))
	}
	for i, p := range rp.GetRetryHostPredicate() {
		name := p.GetName()
		if tc := p.GetTypedConfig(); tc != nil {
			name = string(tc.MessageName())
		}
		switch name {
		case "envoy.retry_host_predicates.previous_hosts", "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate":
			out.RetryAvoidsTried = true
		case "envoy.retry_host_predicates.omit_canary_hosts", "envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate":
			// No endpoint envoy-btp renders is a canary.
		default:
			return fmt.Errorf("retry_policy.retry_host_predicate[%d] %q: not modelled; allowed previous_hosts, omit_canary_hosts", i, name)
		}
	}
	return nil
}

// policies converts route hash_policy entries.
func policies(hps []*routev3.RouteAction_HashPolicy) (lbhash.Policies, error) {
	var out lbhash.Policies
	for i, hp := range hps {
		p := lbhash.Policy{Terminal: hp.GetTerminal()}
		switch s := hp.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Header_:
			if s.Header.GetRegexRewrite() != nil {
				return nil, fmt.Errorf("hash_policy[%d].header.regex_rewrite: not modelled", i)
			}
			p.Kind, p.Name = lbhash.Header, s.Header.GetHeaderName()
		case *routev3.RouteAction_HashPolicy_Cookie_:
			p.Kind, p.Name, p.CookiePath = lbhash.Cookie, s.Cookie.GetName(), s.Cookie.GetPath()
			if ttl := s.Cookie.GetTtl(); ttl != nil {
				// Envoy keeps whole seconds of the TTL.
				d := time.Duration(ttl.GetSeconds()) * time.Second
				p.CookieTTL = &d
			}
		case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
			if !s.ConnectionProperties.GetSourceIp() {
				continue // Envoy ignores a connection_properties policy without source_ip
			}
			p.Kind = lbhash.SourceIP
		case *routev3.RouteAction_HashPolicy_QueryParameter_:
			p.Kind, p.Name = lbhash.QueryParameter, s.QueryParameter.GetName()
		case *routev3.RouteAction_HashPolicy_FilterState_:
			return nil, fmt.Errorf("hash_policy[%d].filter_state %q: not modelled; allowed header, cookie, connection_properties, query_parameter", i, s.FilterState.GetKey())
		default:
			return nil, fmt.Errorf("hash_policy[%d]: policy %T not modelled", i, s)
		}
		out = append(out, p)
	}
	return out, nil
}

// lbSettings is what a cluster's consistent-hash load balancer is set to.
type lbSettings struct {
	maglev            bool
	tableSize         uint64
	minRing, maxRing  uint64
	ringFn            lbhash.RingHashFunction
	useHostname       bool
	localityWeighted  bool
	hashBalanceFactor uint32
	hashPolicy        []*routev3.RouteAction_HashPolicy
}

func cluster(name string, clusters map[string]*clusterv3.Cluster) (*lbhash.Cluster, error) {
	c, ok := clusters[name]
	if !ok {
		return nil, fmt.Errorf("cluster %q not found", name)
	}
	where := fmt.Sprintf("cluster %q", name)
	lb, err := settings(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if lb.hashBalanceFactor != 0 {
		return nil, fmt.Errorf("%s: hash_balance_factor %d: bounded loads depend on live request counts and cannot be predicted", where, lb.hashBalanceFactor)
	}
	hosts, err := hostSet(c, lb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	out := &lbhash.Cluster{Name: name, Hosts: hosts}
	if lb.maglev {
		out.LB, err = lbhash.NewMaglev(hosts, lb.tableSize)
	} else {
		out.LB, err = lbhash.NewRing(hosts, lb.minRing, lb.maxRing, lb.ringFn)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	// A load-balancer hash policy wins, then the cluster's HTTP protocol
	// options, then the route's.
	own := lb.hashPolicy
	if len(own) == 0 {
		if a := c.GetTypedExtensionProtocolOptions()[httpOptionsKey]; a != nil {
			opts := &httpv3.HttpProtocolOptions{}
			if err := a.UnmarshalTo(opts); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", where, httpOptionsKey, err)
			}
			own = opts.GetHashPolicy()
		}
	}
	if len(own) > 0 {
		if out.Policies, err = policies(own); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return out, nil
}

// settings reads the load balancer: load_balancing_policy (Envoy uses its
// first entry) or the legacy lb_policy fields.
func settings(c *clusterv3.Cluster) (*lbSettings, error) {
	if pols := c.GetLoadBalancingPolicy().GetPolicies(); len(pols) > 0 {
		tc := pols[0].GetTypedExtensionConfig()
		return typedSettings(tc.GetName(), tc.GetTypedConfig())
	}
	s := &lbSettings{}
	common := c.GetCommonLbConfig()
	s.useHostname = common.GetConsistentHashingLbConfig().GetUseHostnameForHashing()
	s.hashBalanceFactor = common.GetConsistentHashingLbConfig().GetHashBalanceFactor().GetValue()
	s.localityWeighted = common.GetLocalityWeightedLbConfig() != nil
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_MAGLEV:
		s.maglev = true
		s.tableSize = c.GetMaglevLbConfig().GetTableSize().GetValue()
	case clusterv3.Cluster_RING_HASH:
		rh := c.GetRingHashLbConfig()
		s.minRing, s.maxRing = rh.GetMinimumRingSize().GetValue(), rh.GetMaximumRingSize().GetValue()
		if rh.GetHashFunction() == clusterv3.Cluster_RingHashLbConfig_MURMUR_HASH_2 {
			s.ringFn = lbhash.MurmurHash2
		}
	default:
		return nil, fmt.Errorf("lb_policy %s: not a consistent-hash load balancer, so its picks cannot be predicted; allowed MAGLEV, RING_HASH", c.GetLbPolicy())
	}
	return s, nil
}

func typedSettings(name string, a *anypb.Any) (*lbSettings, error) {
	s := &lbSettings{}
	var ch *commonv3.ConsistentHashingLbConfig
	switch a.MessageName() {
	case maglevPolicy:
		m := &maglevv3.Maglev{}
		if err := a.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("load_balancing_policy %q: %w", name, err)
		}
		s.maglev = true
		s.tableSize = m.GetTableSize().GetValue()
		s.localityWeighted = m.GetLocalityWeightedLbConfig() != nil
		ch = m.GetConsistentHashingLbConfig()
	case ringHashPolicy:
		r := &ringhashv3.RingHash{}
		if err := a.UnmarshalTo(r); err != nil {
			return nil, fmt.Errorf("load_balancing_policy %q: %w", name, err)
		}
		s.minRing, s.maxRing = r.GetMinimumRingSize().GetValue(), r.GetMaximumRingSize().GetValue()
		if r.GetHashFunction() == ringhashv3.RingHash_MURMUR_HASH_2 {
			s.ringFn = lbhash.MurmurHash2
		}
		s.localityWeighted = r.GetLocalityWeightedLbConfig() != nil
		s.useHostname = r.GetUseHostnameForHashing()
		s.hashBalanceFactor = r.GetHashBalanceFactor().GetValue()
		ch = r.GetConsistentHashingLbConfig()
	default:
		return nil, fmt.Errorf("load_balancing_policy %q (%s): not a consistent-hash load balancer, so its picks cannot be predicted; allowed Maglev, RingHash", name, a.MessageName())
	}
	if ch != nil {
		s.useHostname = ch.GetUseHostnameForHashing()
		s.hashBalanceFactor = ch.GetHashBalanceFactor().GetValue()
		s.hashPolicy = ch.GetHashPolicy()
	}
	return s, nil
}

// hostSet lists the cluster's priority-0 hosts in Envoy's order.
func hostSet(c *clusterv3.Cluster, lb *lbSettings) (*lbhash.HostSet, error) {
	switch t := c.GetClusterDiscoveryType().(type) {
	case nil:
	case *clusterv3.Cluster_Type:
		if t.Type != clusterv3.Cluster_STATIC && t.Type != clusterv3.Cluster_STRICT_DNS && t.Type != clusterv3.Cluster_LOGICAL_DNS {
			return nil, fmt.Errorf("type %s: endpoints are not known ahead; allowed STATIC (or DNS with IP literals)", t.Type)
		}
	case *clusterv3.Cluster_ClusterType:
		// DNS cluster extensions: IP literal endpoints resolve to themselves.
	}
	s := &lbhash.HostSet{UseHostname: lb.useHostname}
	type locality struct {
		key    [3]string
		weight uint32
		hosts  []lbhash.Host
	}
	var locs []*locality
	for li, lle := range c.GetLoadAssignment().GetEndpoints() {
		if lle.GetPriority() != 0 {
			return nil, fmt.Errorf("load_assignment.endpoints[%d].priority %d: only priority 0 is modelled (the request hash also picks the priority)", li, lle.GetPriority())
		}
		l := &locality{
			key:    [3]string{lle.GetLocality().GetRegion(), lle.GetLocality().GetZone(), lle.GetLocality().GetSubZone()},
			weight: lle.GetLoadBalancingWeight().GetValue(),
		}
		for ei, lbe := range lle.GetLbEndpoints() {
			path := fmt.Sprintf("load_assignment.endpoints[%d].lb_endpoints[%d]", li, ei)
			h, err := host(lbe, lb.useHostname)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			l.hosts = append(l.hosts, h)
		}
		locs = append(locs, l)
	}
	if !lb.localityWeighted {
		for _, l := range locs {
			s.Hosts = append(s.Hosts, l.hosts...)
		}
		return s, nil
	}
	// Envoy groups hosts by locality in lexicographic (region, zone,
	// sub_zone) order; a repeated locality takes the last weight given.
	slices.SortStableFunc(locs, func(a, b *locality) int {
		return cmp.Compare(strings.Join(a.key[:], "\x00"), strings.Join(b.key[:], "\x00"))
	})
	var merged []*locality
	for _, l := range locs {
		if n := len(merged); n > 0 && merged[n-1].key == l.key {
			merged[n-1].hosts = append(merged[n-1].hosts, l.hosts...)
			merged[n-1].weight = l.weight
			continue
		}
		merged = append(merged, l)
	}
	s.LocalityWeights = []uint32{}
	for i, l := range merged {
		s.LocalityWeights = append(s.LocalityWeights, l.weight)
		for _, h := range l.hosts {
			h.Locality = i
			s.Hosts = append(s.Hosts, h)
		}
	}
	return s, nil
}

func host(lbe *endpointv3.LbEndpoint, useHostname bool) (lbhash.Host, error) {
	switch hs := lbe.GetHealthStatus(); hs {
	case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY:
	default:
		return lbhash.Host{}, fmt.Errorf("health_status %s: only healthy endpoints are modelled", hs)
	}
	ep := lbe.GetEndpoint()
	if ep == nil {
		return lbhash.Host{}, fmt.Errorf("named endpoints are not modelled")
	}
	sa := ep.GetAddress().GetSocketAddress()
	if sa == nil {
		return lbhash.Host{}, fmt.Errorf("address: only socket addresses are modelled")
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return lbhash.Host{}, fmt.Errorf("address %q is resolved by DNS at runtime, so the hashed address is unknown; use IP addresses", sa.GetAddress())
	}
	port, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue)
	if !ok {
		return lbhash.Host{}, fmt.Errorf("address %q: named ports are not modelled", sa.GetAddress())
	}
	h := lbhash.Host{
		Address:  netip.AddrPortFrom(ip, uint16(port.PortValue)).String(),
		Hostname: ep.GetHostname(),
		Weight:   lbe.GetLoadBalancingWeight().GetValue(),
	}
	if v := lbe.GetMetadata().GetFilterMetadata()["envoy.lb"].GetFields()["hash_key"]; v != nil {
		h.HashKey = v.GetStringValue()
	}
	if useHostname && h.HashKey == "" && h.Hostname == "" {
		return lbhash.Host{}, fmt.Errorf("use_hostname_for_hashing is set but the endpoint has no hostname")
	}
	return h, nil
}
