package fromxds

import (
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/envoy-btp/envoy-btp/lbhash"
)

func lbPolicy(t *testing.T, m proto.Message) *clusterv3.LoadBalancingPolicy {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: "lb", TypedConfig: a},
	}}}
}

func endpoint(ip string, port uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
	}}}
}

func staticCluster(name string, lb *clusterv3.LoadBalancingPolicy, eps ...*endpointv3.LbEndpoint) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadBalancingPolicy:  lb,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: eps,
		}}},
	}
}

func headerPolicy(name string) *routev3.RouteAction_HashPolicy {
	return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
		Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: name}}}
}

func TestMaglevRouteMatchesDirectModel(t *testing.T) {
	c := staticCluster("c", lbPolicy(t, &maglevv3.Maglev{TableSize: wrapperspb.UInt64(7)}),
		endpoint("127.0.0.1", 90), endpoint("127.0.0.1", 91), endpoint("127.0.0.1", 92),
		endpoint("127.0.0.1", 93), endpoint("127.0.0.1", 94), endpoint("127.0.0.1", 95))
	r := &routev3.Route{Name: "r", Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
		HashPolicy: []*routev3.RouteAction_HashPolicy{
			headerPolicy("x-a"),
			{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: &routev3.RouteAction_HashPolicy_Cookie{
				Name: "s", Ttl: durationpb.New(90_500_000_000)}}},
		},
	}}}
	rt, err := Route(r, map[string]*clusterv3.Cluster{"c": c})
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Policies) != 2 || rt.Policies[0].Kind != lbhash.Header || rt.Policies[0].Name != "x-a" ||
		rt.Policies[1].Kind != lbhash.Cookie || rt.Policies[1].CookieTTL == nil || rt.Policies[1].CookieTTL.Seconds() != 90 {
		t.Fatalf("policies = %+v", rt.Policies)
	}
	// Envoy's Basic Maglev table for ports 90..95 at size 7.
	want := []int{2, 4, 0, 1, 5, 0, 3}
	for h := uint64(0); h < 7; h++ {
		if got := rt.Clusters[0].LB.Pick(h); got != want[h] {
			t.Fatalf("slot %d = host %d, want %d", h, got, want[h])
		}
	}
	if rt.Clusters[0].Hosts.Hosts[0].Address != "127.0.0.1:90" {
		t.Fatalf("host 0 = %q", rt.Clusters[0].Hosts.Hosts[0].Address)
	}
}

func TestWeightedClustersAndRing(t *testing.T) {
	rh := lbPolicy(t, &ringhashv3.RingHash{MinimumRingSize: wrapperspb.UInt64(12), HashFunction: ringhashv3.RingHash_MURMUR_HASH_2})
	clusters := map[string]*clusterv3.Cluster{
		"a": staticCluster("a", rh, endpoint("127.0.0.1", 80), endpoint("127.0.0.1", 81), endpoint("127.0.0.1", 82),
			endpoint("127.0.0.1", 83), endpoint("127.0.0.1", 84), endpoint("127.0.0.1", 85)),
		"b": staticCluster("b", lbPolicy(t, &maglevv3.Maglev{}), endpoint("::1", 8080)),
	}
	r := &routev3.Route{Name: "r", Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
			Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: "a", Weight: wrapperspb.UInt32(2)}, {Name: "b", Weight: wrapperspb.UInt32(1)}},
			RandomValueSpecifier: &routev3.WeightedCluster_UseHashPolicy{UseHashPolicy: wrapperspb.Bool(true)},
		}},
		HashPolicy: []*routev3.RouteAction_HashPolicy{headerPolicy("x-a")},
	}}}
	rt, err := Route(r, clusters)
	if err != nil {
		t.Fatal(err)
	}
	if !rt.HashPicksCluster || rt.Clusters[0].Weight != 2 || rt.Clusters[1].Weight != 1 {
		t.Fatalf("weighted clusters not read: %+v", rt)
	}
	// Envoy's BasicWithMurmur2 ring: hash 0 lands on :85.
	if got := rt.Clusters[0].LB.Pick(0); got != 5 {
		t.Fatalf("ring pick for 0 = %d, want 5", got)
	}
	if got := rt.Clusters[1].Hosts.Hosts[0].Address; got != "[::1]:8080" {
		t.Fatalf("IPv6 host key %q, want [::1]:8080", got)
	}
}

func TestLocalityWeightedOrder(t *testing.T) {
	c := staticCluster("c", lbPolicy(t, &maglevv3.Maglev{
		TableSize:                wrapperspb.UInt64(17),
		LocalityWeightedLbConfig: &commonv3.LocalityLbConfig_LocalityWeightedLbConfig{},
	}))
	// Listed C, A, B; Envoy sorts them A, B, C. Envoy's test
	// LocalityWeightedDifferentLocalityWeights: A=8 (:90), B=0 (:92), C=2 (:91).
	zone := func(z string, w uint32, e *endpointv3.LbEndpoint) *endpointv3.LocalityLbEndpoints {
		return &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: z}, LoadBalancingWeight: wrapperspb.UInt32(w),
			LbEndpoints: []*endpointv3.LbEndpoint{e}}
	}
	c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{
		zone("C", 2, endpoint("127.0.0.1", 91)), zone("A", 8, endpoint("127.0.0.1", 90)), zone("B", 0, endpoint("127.0.0.1", 92)),
	}
	r := &routev3.Route{Name: "r", Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
		HashPolicy:       []*routev3.RouteAction_HashPolicy{headerPolicy("x")},
	}}}
	rt, err := Route(r, map[string]*clusterv3.Cluster{"c": c})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{":91", ":90", ":90", ":90", ":90", ":90", ":91", ":90", ":90", ":91", ":90", ":91", ":90", ":90", ":90", ":90", ":90"}
	for h := range want {
		got := rt.Clusters[0].Hosts.Hosts[rt.Clusters[0].LB.Pick(uint64(h))].Address
		if !strings.HasSuffix(got, want[h]) {
			t.Fatalf("slot %d = %s, want %s", h, got, want[h])
		}
	}
}

func TestUnpredictableConfigsAreErrors(t *testing.T) {
	maglev := lbPolicy(t, &maglevv3.Maglev{})
	route := func(hp ...*routev3.RouteAction_HashPolicy) *routev3.Route {
		return &routev3.Route{Name: "r", Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, HashPolicy: hp}}}
	}
	prio := staticCluster("c", maglev, endpoint("127.0.0.1", 1))
	prio.LoadAssignment.Endpoints[0].Priority = 1
	bounded := staticCluster("c", lbPolicy(t, &maglevv3.Maglev{ConsistentHashingLbConfig: &commonv3.ConsistentHashingLbConfig{
		HashBalanceFactor: wrapperspb.UInt32(150)}}), endpoint("127.0.0.1", 1))
	for _, tc := range []struct {
		name    string
		cluster *clusterv3.Cluster
		route   *routev3.Route
		want    string
	}{
		{"least request", staticCluster("c", lbPolicy(t, &leastrequestv3.LeastRequest{}), endpoint("127.0.0.1", 1)), route(headerPolicy("x")), "not a consistent-hash load balancer"},
		{"dns name", staticCluster("c", maglev, endpoint("backend.example.com", 80)), route(headerPolicy("x")), "resolved by DNS"},
		{"priority", prio, route(headerPolicy("x")), "priority 1"},
		{"bounded load", bounded, route(headerPolicy("x")), "hash_balance_factor 150"},
		{"filter state", staticCluster("c", maglev, endpoint("127.0.0.1", 1)), route(&routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_FilterState_{FilterState: &routev3.RouteAction_HashPolicy_FilterState{Key: "k"}}}), "filter_state"},
		{"missing cluster", staticCluster("other", maglev, endpoint("127.0.0.1", 1)), route(headerPolicy("x")), `cluster "c" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Route(tc.route, map[string]*clusterv3.Cluster{tc.cluster.Name: tc.cluster})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRetryPolicy(t *testing.T) {
	c := staticCluster("c", lbPolicy(t, &maglevv3.Maglev{}), endpoint("127.0.0.1", 1), endpoint("127.0.0.1", 2))
	pred := func(name string) *routev3.RetryPolicy_RetryHostPredicate {
		return &routev3.RetryPolicy_RetryHostPredicate{Name: name}
	}
	r := &routev3.Route{Name: "r", Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
		HashPolicy:       []*routev3.RouteAction_HashPolicy{headerPolicy("x")},
		RetryPolicy: &routev3.RetryPolicy{
			NumRetries:                    wrapperspb.UInt32(3),
			RetryHostPredicate:            []*routev3.RetryPolicy_RetryHostPredicate{pred("envoy.retry_host_predicates.previous_hosts")},
			HostSelectionRetryMaxAttempts: 5,
		},
	}}}
	rt, err := Route(r, map[string]*clusterv3.Cluster{"c": c})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Retries != 3 || !rt.RetryAvoidsTried || rt.HostSelectionAttempts != 5 {
		t.Fatalf("retry read as %d retries, avoid %v, %d selections", rt.Retries, rt.RetryAvoidsTried, rt.HostSelectionAttempts)
	}
	r.GetRoute().RetryPolicy.RetryHostPredicate = append(r.GetRoute().RetryPolicy.RetryHostPredicate, pred("envoy.retry_host_predicates.omit_host_metadata"))
	if _, err := Route(r, map[string]*clusterv3.Cluster{"c": c}); err == nil || !strings.Contains(err.Error(), "omit_host_metadata") {
		t.Fatalf("err = %v, want the unmodelled predicate named", err)
	}
}

func TestTrustsForwardedFor(t *testing.T) {
	route := &routev3.Route{Name: "r"}
	boot := func(useRemote bool) *bootstrapv3.Bootstrap {
		hcm := &hcmv3.HttpConnectionManager{
			RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
				VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{route}}},
			}},
		}
		if useRemote {
			hcm.UseRemoteAddress = wrapperspb.Bool(true)
		}
		a, err := anypb.New(hcm)
		if err != nil {
			t.Fatal(err)
		}
		return &bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{Listeners: []*listenerv3.Listener{{
			Name: "l", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
				Name: "hcm", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}}}},
		}}}}
	}
	for _, useRemote := range []bool{false, true} {
		got, err := TrustsForwardedFor(boot(useRemote), "r")
		if err != nil || got == useRemote {
			t.Errorf("use_remote_address %v: TrustsForwardedFor = %v, %v", useRemote, got, err)
		}
	}
	if _, err := TrustsForwardedFor(boot(false), "nope"); err == nil {
		t.Error("unknown route accepted")
	}
}
