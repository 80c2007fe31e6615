package xds

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// routeC is a route to a backend of its own: pushing it adds a cluster.
const routeC = `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app-c, namespace: default}
spec:
  endpoints:
  - ip: {address: 127.0.0.1, port: 9003}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: c, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /c}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app-c}]
`

// event is one response the fake Envoy got, in order.
type event struct {
	typ, version string
	names        []string // resource names (routes: the route names inside)
}

// fakeEnvoy plays an Envoy on a state-of-the-world ADS stream: it
// subscribes to clusters, to the endpoints of every EDS cluster it has
// and to the listener's routes, acks every response and records them.
type fakeEnvoy struct {
	mu     sync.Mutex
	events []event
}

func (f *fakeEnvoy) run(t *testing.T, ctx context.Context, stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	send := func(r *discoveryv3.DiscoveryRequest) {
		if err := stream.Send(r); err != nil && ctx.Err() == nil {
			t.Errorf("send: %v", err)
		}
	}
	send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "fake"}, TypeUrl: resourcev3.ClusterType})
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"default/gw/http"}})
	var edsNames []string
	edsVersion := ""
	for {
		resp, err := stream.Recv()
		if err != nil {
			return
		}
		ev := event{typ: resp.TypeUrl, version: resp.VersionInfo}
		var eds []string
		for _, a := range resp.Resources {
			ev.names = append(ev.names, names(t, a)...)
			if resp.TypeUrl == resourcev3.ClusterType {
				c := &clusterv3.Cluster{}
				a.UnmarshalTo(c)
				if c.GetType() == clusterv3.Cluster_EDS {
					eds = append(eds, c.Name)
				}
			}
		}
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
		req := &discoveryv3.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}
		switch resp.TypeUrl {
		case resourcev3.RouteType:
			req.ResourceNames = []string{"default/gw/http"}
		case resourcev3.EndpointType:
			req.ResourceNames = edsNames
			edsVersion = resp.VersionInfo
		}
		send(req)
		if resp.TypeUrl == resourcev3.ClusterType && strings.Join(eds, ",") != strings.Join(edsNames, ",") {
			// As Envoy: the clusters it now has ask for their endpoints.
			edsNames = eds
			send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: edsNames, VersionInfo: edsVersion})
		}
	}
}

func names(t *testing.T, a *anypb.Any) []string {
	if a.MessageIs(&routev3.RouteConfiguration{}) {
		rc := &routev3.RouteConfiguration{}
		a.UnmarshalTo(rc)
		var out []string
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				out = append(out, r.Name)
			}
		}
		return out
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	type named interface{ GetName() string }
	type clusterNamed interface{ GetClusterName() string }
	switch r := m.(type) {
	case clusterNamed:
		return []string{r.GetClusterName()}
	case named:
		return []string{r.GetName()}
	}
	return nil
}

func (f *fakeEnvoy) snapshot() []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event(nil), f.events...)
}

// first is the index of the first event of typ whose names satisfy ok, -1
// for none.
func first(evs []event, typ string, ok func([]string) bool) int {
	for i, e := range evs {
		if e.typ == typ && ok(e.names) {
			return i
		}
	}
	return -1
}

func has(sub string) func([]string) bool {
	return func(ns []string) bool {
		for _, n := range ns {
			if strings.Contains(n, sub) {
				return true
			}
		}
		return false
	}
}

func not(f func([]string) bool) func([]string) bool { return func(ns []string) bool { return !f(ns) } }

// TestMakeBeforeBreak: a route to a new cluster reaches an Envoy only after
// the cluster's endpoints did (a route naming a cluster Envoy lacks
// answers 503); a removed route's cluster stays served after the route is
// gone, then goes.
func TestMakeBeforeBreak(t *testing.T) {
	var log syncBuffer
	s := New(&log)
	s.LingerFor = 300 * time.Millisecond
	r1, m := resources(t, 3, "")
	s.Push(r1, m.Policies)
	conn := startServer(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeEnvoy{}
	go f.run(t, ctx, stream)
	waitFor(t, "version 1 acked", func() bool {
		return s.Status().Nodes["fake"].Acked[resourcev3.EndpointType] == "1" && s.Status().Nodes["fake"].Acked[resourcev3.RouteType] == "1"
	})

	r2, m2 := resources(t, 3, routeC)
	v, changed, err := s.Push(r2, m2.Policies)
	if err != nil || !changed {
		t.Fatalf("push with route c: %d %v %v", v, changed, err)
	}
	waitFor(t, "route c", func() bool {
		return first(f.snapshot(), resourcev3.RouteType, has("httproute/default/c/rule/0/match")) >= 0
	})
	evs := f.snapshot()
	eds := first(evs, resourcev3.EndpointType, has("httproute/default/c/rule/0"))
	route := first(evs, resourcev3.RouteType, has("httproute/default/c/rule/0/match"))
	if eds < 0 || eds > route {
		t.Fatalf("route c (event %d) reached the Envoy before its cluster's endpoints (event %d): %+v\n%s", route, eds, evs, log.String())
	}
	if !strings.Contains(log.String(), "(clusters first: the routes that use them follow once the Envoys have them)") {
		t.Errorf("log:\n%s", log.String())
	}

	// Route c goes: its cluster outlives it, then goes.
	n := len(f.snapshot())
	s.Push(r1, m.Policies)
	waitFor(t, "cluster c dropped", func() bool {
		evs := f.snapshot()[n:]
		return first(evs, resourcev3.ClusterType, not(has("httproute/default/c/rule/0"))) >= 0
	})
	evs = f.snapshot()[n:]
	gone := first(evs, resourcev3.RouteType, not(has("httproute/default/c/rule/0/match")))
	dropped := first(evs, resourcev3.ClusterType, not(has("httproute/default/c/rule/0")))
	// The version without route c still serves cluster c; a later one
	// drops it.
	if gone < 0 || dropped < 0 || !olderThan(evs[gone].version, evs[dropped].version) {
		t.Fatalf("cluster c dropped (event %d) no later than route c (event %d): %+v", dropped, gone, evs)
	}
	if !strings.Contains(log.String(), "kept 300ms, for the requests on them") {
		t.Errorf("log:\n%s", log.String())
	}
}
