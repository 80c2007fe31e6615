package xds

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/policy"
)

// renderGolden renders one of bootstrap's golden inputs as the golden test
// does; ok is false for the inputs that must fail.
func renderGolden(t *testing.T, in string) (*bootstrap.Rendered, bool) {
	t.Helper()
	m, err := policy.Load([]string{in}, nil)
	if err != nil {
		perPolicy, rest := err.(policy.ErrorList).PerPolicy()
		if !strings.Contains(in, "keep-going") || len(perPolicy) == 0 || len(rest) > 0 {
			return nil, false
		}
	}
	opts := bootstrap.Options{}
	if strings.Contains(in, "dynamic-module") {
		opts.Host = bootstrap.HostDynamicModule
	}
	r, err := bootstrap.RenderAll(m, opts)
	if err != nil {
		return nil, false
	}
	return r, true
}

// TestSnapshotIsTheStaticRender serves every golden input of bootstrap as a
// snapshot, inlines the snapshot's RDS, EDS and SDS resources back into its
// listeners and clusters (the test's own inliner), and requires the static
// render's listeners, clusters and secrets, proto for proto.
func TestSnapshotIsTheStaticRender(t *testing.T) {
	ins, err := filepath.Glob("../bootstrap/testdata/*.in.yaml")
	if err != nil || len(ins) < 10 {
		t.Fatalf("golden inputs: %v (%d)", err, len(ins))
	}
	var rds, eds, sds int
	for _, in := range ins {
		r, ok := renderGolden(t, in)
		if !ok {
			continue
		}
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			res, err := r.Resources()
			if err != nil {
				t.Fatal(err)
			}
			snap, err := NewSnapshot("1", res)
			if err != nil {
				t.Fatal(err)
			}
			rds += len(snap.GetResources(resourcev3.RouteType))
			eds += len(snap.GetResources(resourcev3.EndpointType))
			sds += len(snap.GetResources(resourcev3.SecretType))
			static := r.Bootstrap.GetStaticResources()
			gotL := inlineListeners(t, snap)
			if len(gotL) != len(static.Listeners) {
				t.Fatalf("%d listeners served, %d rendered", len(gotL), len(static.Listeners))
			}
			for _, want := range static.Listeners {
				if d := diff(want, gotL[want.Name]); d != "" {
					t.Errorf("listener %s: served (inlined) != rendered:\n%s", want.Name, d)
				}
			}
			gotC := inlineClusters(t, snap)
			if len(gotC) != len(static.Clusters) {
				t.Fatalf("%d clusters served, %d rendered", len(gotC), len(static.Clusters))
			}
			for _, want := range static.Clusters {
				if d := diff(want, gotC[want.Name]); d != "" {
					t.Errorf("cluster %s: served (inlined) != rendered:\n%s", want.Name, d)
				}
			}
			secrets := snap.GetResources(resourcev3.SecretType)
			if len(secrets) != len(static.Secrets) {
				t.Fatalf("%d secrets served, %d rendered", len(secrets), len(static.Secrets))
			}
			for _, want := range static.Secrets {
				if d := diff(want, secrets[want.Name]); d != "" {
					t.Errorf("secret %s: %s", want.Name, d)
				}
			}
		})
	}
	// The inputs cover every kind of reference the split makes.
	if rds == 0 || eds == 0 || sds == 0 {
		t.Errorf("the golden inputs served %d route configurations, %d endpoint sets, %d secrets: want each > 0", rds, eds, sds)
	}
}

func diff(want, got proto.Message) string {
	if got == nil {
		return "missing"
	}
	if proto.Equal(want, got) {
		return ""
	}
	// Unpack Anys so a difference names the field, not bytes.
	return cmpDiff(want, got)
}

func inlineListeners(t *testing.T, snap *cachev3.Snapshot) map[string]*listenerv3.Listener {
	routes := snap.GetResources(resourcev3.RouteType)
	used := map[string]bool{}
	out := map[string]*listenerv3.Listener{}
	for name, r := range snap.GetResources(resourcev3.ListenerType) {
		l := proto.Clone(r.(*listenerv3.Listener)).(*listenerv3.Listener)
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				a := f.GetTypedConfig()
				if !a.MessageIs(&hcmv3.HttpConnectionManager{}) {
					continue
				}
				hcm := &hcmv3.HttpConnectionManager{}
				if err := a.UnmarshalTo(hcm); err != nil {
					t.Fatal(err)
				}
				rds := hcm.GetRds()
				if rds == nil || rds.GetConfigSource().GetAds() == nil {
					t.Fatalf("listener %s: HCM without RDS over ADS: %v", name, hcm.RouteSpecifier)
				}
				rc, ok := routes[rds.RouteConfigName]
				if !ok {
					t.Fatalf("listener %s: route configuration %q not in the snapshot", name, rds.RouteConfigName)
				}
				used[rds.RouteConfigName] = true
				hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc.(*routev3.RouteConfiguration)}
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: pack(t, hcm)}
			}
			if a := fc.GetTransportSocket().GetTypedConfig(); a.MessageIs(&tlsv3.DownstreamTlsContext{}) {
				ctx := &tlsv3.DownstreamTlsContext{}
				if err := a.UnmarshalTo(ctx); err != nil {
					t.Fatal(err)
				}
				for _, s := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
					if s.GetSdsConfig().GetAds() == nil {
						t.Fatalf("listener %s: secret %s not over ADS", name, s.Name)
					}
					s.SdsConfig = nil
				}
				fc.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: pack(t, ctx)}
			}
		}
		out[name] = l
	}
	if len(used) != len(routes) {
		t.Errorf("%d route configurations served, %d referenced", len(routes), len(used))
	}
	return out
}

func inlineClusters(t *testing.T, snap *cachev3.Snapshot) map[string]*clusterv3.Cluster {
	eps := snap.GetResources(resourcev3.EndpointType)
	out := map[string]*clusterv3.Cluster{}
	for name, r := range snap.GetResources(resourcev3.ClusterType) {
		c := proto.Clone(r.(*clusterv3.Cluster)).(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_EDS {
			if c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
				t.Fatalf("cluster %s: EDS not over ADS", name)
			}
			la, ok := eps[name]
			if !ok {
				t.Fatalf("cluster %s: endpoints not in the snapshot", name)
			}
			c.EdsClusterConfig = nil
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
			c.LoadAssignment = la.(*endpointv3.ClusterLoadAssignment)
		} else if c.LoadAssignment == nil && c.GetClusterType() == nil {
			t.Errorf("cluster %s (%v) has no endpoints", name, c.GetType())
		}
		out[name] = c
	}
	return out
}

func pack(t *testing.T, m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSnapshotDNSClustersStay: a cluster Envoy resolves itself (DNS) keeps
// its inline endpoints and is no EDS cluster.
func TestSnapshotDNSClustersStay(t *testing.T) {
	r, ok := renderGolden(t, "../bootstrap/testdata/dns.in.yaml")
	if !ok {
		t.Fatal("dns.in.yaml does not render")
	}
	res, err := r.Resources()
	if err != nil {
		t.Fatal(err)
	}
	var dns []string
	for _, c := range res.Clusters {
		if c.GetClusterType() != nil {
			dns = append(dns, c.Name)
			if c.LoadAssignment == nil || c.EdsClusterConfig != nil {
				t.Errorf("DNS cluster %s lost its endpoints or became EDS", c.Name)
			}
		}
	}
	if len(dns) == 0 {
		t.Fatal("dns.in.yaml rendered no DNS cluster")
	}
	for _, e := range res.Endpoints {
		for _, n := range dns {
			if e.ClusterName == n {
				t.Errorf("DNS cluster %s has EDS endpoints too", n)
			}
		}
	}
}

// cmpDiff is the first line that differs in the protos' JSON (Anys
// expanded).
func cmpDiff(want, got proto.Message) string {
	opts := protojson.MarshalOptions{Multiline: true}
	w, _ := opts.Marshal(want)
	g, _ := opts.Marshal(got)
	wl, gl := strings.Split(string(w), "\n"), strings.Split(string(g), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var a, b string
		if i < len(wl) {
			a = wl[i]
		}
		if i < len(gl) {
			b = gl[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  rendered: %s\n  served:   %s", i+1, a, b)
		}
	}
	return "(same JSON, different protos)"
}
