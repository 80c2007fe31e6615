package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/policy"
)

// fixture is a Gateway with two routes, each with its own local rate limit.
const fixture = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app, namespace: default}
spec:
  endpoints:
  - ip: {address: 127.0.0.1, port: 9000}
%[1]s---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: a, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: a}]
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: %[2]d, unit: Minute}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: b, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: b}]
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: 7, unit: Minute}
`

// resources renders fixture with route a's limit; extra is more YAML
// documents (ending in ---).
func resources(t *testing.T, limitA int, extra string) (*bootstrap.Resources, *policy.Model) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(fixture, extra, limitA)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := policy.Load([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bootstrap.RenderAll(m, bootstrap.Options{Host: bootstrap.HostDynamicModule})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resources()
	if err != nil {
		t.Fatal(err)
	}
	return res, m
}

// syncBuffer is the server's log, read while callbacks write it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPushVersionsAndRefuse(t *testing.T) {
	var log syncBuffer
	s := New(&log)
	if v := s.Version(); v != 0 {
		t.Fatalf("version before any push: %d", v)
	}
	r1, m := resources(t, 3, "")
	if v, changed, err := s.Push(r1, m.Policies); err != nil || v != 1 || !changed {
		t.Fatalf("first push: %d %v %v", v, changed, err)
	}
	// The same render again (a touched file) is no new version.
	again, _ := resources(t, 3, "")
	if v, changed, err := s.Push(again, m.Policies); err != nil || v != 1 || changed {
		t.Fatalf("identical push: %d %v %v, want 1 false", v, changed, err)
	}
	s.Refuse(errors.New("in.yaml: BackendTrafficPolicy/default/a: spec.rateLimit: bad"), nil)
	st := s.Status()
	if st.Version != "1" || !strings.Contains(st.Error, "spec.rateLimit: bad") || len(st.Policies) != 2 {
		t.Fatalf("status after a refused edit: %+v", st)
	}
	r2, m2 := resources(t, 4, "")
	if v, changed, err := s.Push(r2, m2.Policies); err != nil || v != 2 || !changed {
		t.Fatalf("second push: %d %v %v", v, changed, err)
	}
	if st := s.Status(); st.Error != "" || st.Version != "2" {
		t.Fatalf("a good push clears the error: %+v", st)
	}
	for _, want := range []string{
		"btp serve: version 1: 1 listeners, 1 routes, 2 clusters, 2 endpoints; changed: all\n",
		"btp serve: refused (still serving version 1):\nin.yaml: BackendTrafficPolicy/default/a: spec.rateLimit: bad\n",
		"btp serve: version 2: 1 listeners, 1 routes, 2 clusters, 2 endpoints; changed: route default/gw/http\n",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Count(log.String(), "btp serve: version ") != 2 {
		t.Errorf("want two push lines:\n%s", log.String())
	}
}

// TestUnchangedRuleSameBytes: an edit of route a's limit leaves route b's
// per-route filter config byte for byte as it was, so the module sees the
// same rule (and keeps its buckets); a's config changes.
func TestUnchangedRuleSameBytes(t *testing.T) {
	r1, _ := resources(t, 3, "")
	r2, _ := resources(t, 4, "")
	perRoute := func(res *bootstrap.Resources) map[string][]byte {
		out := map[string][]byte{}
		for _, rc := range res.Routes {
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					for name, a := range r.TypedPerFilterConfig {
						if name == bootstrap.DynamicModuleFilterName {
							out[r.GetMatch().GetPathSeparatedPrefix()] = a.Value
						}
					}
				}
			}
		}
		return out
	}
	a, b := perRoute(r1), perRoute(r2)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("want the btp config on both routes: %d, %d", len(a), len(b))
	}
	if !bytes.Equal(a["/b"], b["/b"]) {
		t.Errorf("route /b's config changed with route /a's edit:\n%q\n%q", a["/b"], b["/b"])
	}
	if bytes.Equal(a["/a"], b["/a"]) {
		t.Errorf("route /a's config did not change with its edit")
	}
}

// startServer serves s on a loopback port and returns a client connection.
func startServer(t *testing.T, s *Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s within 5s", what)
}

// TestSotwAckNack is an Envoy on a state-of-the-world ADS stream, played by
// grpc-go: it gets the current snapshot, ACKs it, NACKs the next one; the
// server logs and reports both with the node id and the versions.
func TestSotwAckNack(t *testing.T) {
	var log syncBuffer
	s := New(&log)
	r1, m := resources(t, 3, "")
	s.Push(r1, m.Policies)
	conn := startServer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A node id the server never saw gets the current snapshot.
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "late-envoy"}, TypeUrl: resourcev3.RouteType, ResourceNames: []string{"default/gw/http"}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.VersionInfo != "1" || len(resp.Resources) != 1 {
		t.Fatalf("first response: version %q, %d resources", resp.VersionInfo, len(resp.Resources))
	}
	rc := &routev3.RouteConfiguration{}
	if err := resp.Resources[0].UnmarshalTo(rc); err != nil || rc.Name != "default/gw/http" {
		t.Fatalf("route configuration: %v %q", err, rc.Name)
	}
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: req.ResourceNames, VersionInfo: "1", ResponseNonce: resp.Nonce}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack line", func() bool {
		return strings.Contains(log.String(), "btp serve: version 1 acked by 1/1 Envoys (late-envoy)\n")
	})

	r2, m2 := resources(t, 4, "")
	s.Push(r2, m2.Policies)
	resp, err = stream.Recv()
	if err != nil || resp.VersionInfo != "2" {
		t.Fatalf("second response: %v %v", resp.GetVersionInfo(), err)
	}
	nack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: req.ResourceNames, VersionInfo: "1", ResponseNonce: resp.Nonce,
		ErrorDetail: &statuspb.Status{Code: 3, Message: "Proto constraint validation failed: bad route"}}
	if err := stream.Send(nack); err != nil {
		t.Fatal(err)
	}
	want := "btp serve: NACK from late-envoy: " + resourcev3.RouteType + " version 2 (Envoy keeps version 1): Proto constraint validation failed: bad route\n"
	waitFor(t, "NACK line", func() bool { return strings.Contains(log.String(), want) })
	if strings.Contains(log.String(), "version 2 acked") {
		t.Errorf("a NACKed version reported acked:\n%s", log.String())
	}
	n := s.Status().Nodes["late-envoy"]
	if !n.Connected || n.Acked[resourcev3.RouteType] != "1" || n.Nacked[resourcev3.RouteType] != "2" || !strings.Contains(n.Error, "bad route") {
		t.Fatalf("node status after the NACK: %+v", n)
	}
	cancel()
	waitFor(t, "disconnect", func() bool { return !s.Status().Nodes["late-envoy"].Connected })
}

// TestDeltaAckNack is the same on a delta (incremental) ADS stream, whose
// requests carry no version: the nonce says which one is answered.
func TestDeltaAckNack(t *testing.T) {
	var log syncBuffer
	s := New(&log)
	r1, m := resources(t, 3, "")
	s.Push(r1, m.Policies)
	conn := startServer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "d1"}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.SystemVersionInfo != "1" || len(resp.Resources) != 2 {
		t.Fatalf("first delta response: %v, %d clusters, %v", resp.GetSystemVersionInfo(), len(resp.GetResources()), err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack", func() bool { return s.Status().Nodes["d1"].Acked[resourcev3.ClusterType] == "1" })

	// One changed cluster: only it is sent.
	r2, m2 := resources(t, 4, "")
	r2.Clusters[0].ConnectTimeout.Seconds++
	s.Push(r2, m2.Policies)
	resp, err = stream.Recv()
	if err != nil || resp.SystemVersionInfo != "2" || len(resp.Resources) != 1 {
		t.Fatalf("second delta response: %v, %d clusters, %v", resp.GetSystemVersionInfo(), len(resp.GetResources()), err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.Nonce,
		ErrorDetail: &statuspb.Status{Code: 3, Message: "cluster rejected"}}); err != nil {
		t.Fatal(err)
	}
	want := "btp serve: NACK from d1: " + resourcev3.ClusterType + " version 2 (Envoy keeps version 1): cluster rejected\n"
	waitFor(t, "NACK line", func() bool { return strings.Contains(log.String(), want) })
}

func TestStatusJSON(t *testing.T) {
	s := New(&syncBuffer{})
	r1, m := resources(t, 3, "")
	s.Push(r1, m.Policies)
	s.Refuse(errors.New("in.yaml: BackendTrafficPolicy/default/a: spec.rateLimit: bad"), nil)
	rec := httptest.NewRecorder()
	s.StatusHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "1" || got["error"] != "in.yaml: BackendTrafficPolicy/default/a: spec.rateLimit: bad" {
		t.Fatalf("version/error: %v %v", got["version"], got["error"])
	}
	if _, ok := got["nodes"].(map[string]any); !ok {
		t.Fatalf("nodes: %T", got["nodes"])
	}
	pols, _ := got["policies"].([]any)
	if len(pols) != 2 {
		t.Fatalf("policies: %v", got["policies"])
	}
	p0 := pols[0].(map[string]any)
	anc, _ := p0["ancestors"].([]any)
	if p0["namespace"] != "default" || p0["name"] != "a" || len(anc) != 1 {
		t.Fatalf("policy 0: %v", p0)
	}
	if ref := anc[0].(map[string]any)["ancestorRef"].(map[string]any); ref["name"] != "gw" || ref["kind"] != "Gateway" {
		t.Fatalf("ancestorRef: %v", ref)
	}
	cond := anc[0].(map[string]any)["conditions"].([]any)[0].(map[string]any)
	if _, has := cond["lastTransitionTime"]; has || cond["type"] != "Accepted" || cond["status"] != "True" {
		t.Fatalf("condition: %v (want Accepted True, no lastTransitionTime)", cond)
	}
}
