package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/envoy-btp/envoy-btp/xds"
)

const serveInput = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9000}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]}]
`

func policyDoc(limit, unit string) string {
	return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  rateLimit: {type: Local, local: {rules: [{limit: {requests: ` + limit + `, unit: ` + unit + `}}]}}
`
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeWatch runs `btp serve` in process on a directory: an editor's
// save (rename over the file) of a policy pushes a new version whose routes
// carry the new limit; a bad edit keeps the last good snapshot (an ADS
// client still gets it) and shows the error on /status and stderr; a new
// file in the directory is read too.
func TestServeWatch(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "policies")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(path, data string) {
		t.Helper()
		tmp := filepath.Join(filepath.Dir(path), ".edit.tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	save(filepath.Join(dir, "gw.yaml"), serveInput)
	pol := filepath.Join(sub, "policy.yaml")
	save(pol, policyDoc("5", "Minute"))

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	in, rf := inputFlag(fs), renderFlag(fs, false)
	if err := fs.Parse([]string{"-f", dir, "--host", "dynamic-module"}); err != nil {
		t.Fatal(err)
	}
	xdsAddr, statusAddr := freeAddr(t), freeAddr(t)
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &stdio{out: &stderr, err: &stderr}, in, rf, xdsAddr, statusAddr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	status := func() xds.Status {
		var st xds.Status
		resp, err := http.Get("http://" + statusAddr + "/status")
		if err != nil {
			return st
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&st)
		return st
	}
	wait := func(what string, ok func(xds.Status) bool) xds.Status {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if st := status(); ok(st) {
				return st
			}
		}
		t.Fatalf("no %s within 10s: %+v\n%s", what, status(), stderr.String())
		return xds.Status{}
	}
	wait("version 1", func(s xds.Status) bool { return s.Version == "1" })
	if got := servedLimit(t, xdsAddr); !strings.Contains(got, `"requests":5`) {
		t.Fatalf("version 1's route config: %s", got)
	}

	save(pol, policyDoc("9", "Minute"))
	wait("version 2", func(s xds.Status) bool { return s.Version == "2" })
	if got := servedLimit(t, xdsAddr); !strings.Contains(got, `"requests":9`) {
		t.Fatalf("version 2's route config: %s", got)
	}

	save(pol, policyDoc("9", "Fortnight"))
	st := wait("the refused edit", func(s xds.Status) bool { return s.Error != "" })
	if st.Version != "2" || !strings.Contains(st.Error, `policies/policy.yaml: BackendTrafficPolicy/default/p: spec.rateLimit.local.rules[0].limit.unit: unsupported value "Fortnight"`) {
		t.Fatalf("status of the refused edit: %+v", st)
	}
	if got := servedLimit(t, xdsAddr); !strings.Contains(got, `"requests":9`) {
		t.Fatalf("the refused edit reached the snapshot: %s", got)
	}
	if !strings.Contains(stderr.String(), "btp serve: refused (still serving version 2):\n") || !strings.Contains(stderr.String(), "btp serve: nothing pushed") {
		t.Fatalf("stderr: %s", stderr.String())
	}

	// Fixed.
	save(pol, policyDoc("11", "Minute"))
	wait("version 3", func(s xds.Status) bool { return s.Version == "3" && s.Error == "" })
	if got := servedLimit(t, xdsAddr); !strings.Contains(got, `"requests":11`) {
		t.Fatalf("version 3's route config: %s", got)
	}
	// A directory created under the watched one is watched: its route is
	// served.
	sub2 := filepath.Join(dir, "more")
	if err := os.Mkdir(sub2, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * xds.Debounce) // the new directory is watched from its Create event on
	save(filepath.Join(sub2, "route.yaml"), strings.Replace(serveInput[strings.Index(serveInput, "kind: HTTPRoute")-len("apiVersion: gateway.networking.k8s.io/v1\n"):], "name: r,", "name: r2,", 1))
	wait("version 4", func(s xds.Status) bool { return s.Version == "4" })
	if got := servedLimit(t, xdsAddr); !strings.Contains(got, "httproute/default/r2/") {
		t.Fatalf("version 4 lacks the new file's route: %s", got)
	}
	// A touch that renders the same is no new version.
	now := time.Now()
	os.Chtimes(pol, now, now)
	save(pol, policyDoc("11", "Minute"))
	time.Sleep(3 * xds.Debounce)
	if st := status(); st.Version != "4" {
		t.Fatalf("an identical save pushed version %s", st.Version)
	}
}

// servedLimit fetches the route configuration over ADS, as an Envoy that
// connects now would get it, and returns its btp per-route config JSON.
func servedLimit(t *testing.T, addr string) string {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "probe"}, TypeUrl: resourcev3.RouteType, ResourceNames: []string{"default/gw/http"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("ADS route response: %v", err)
	}
	rc := &routev3.RouteConfiguration{}
	if err := resp.Resources[0].UnmarshalTo(rc); err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	// The per-route config is JSON inside a StringValue: unquote it.
	return strings.ReplaceAll(string(b), `\"`, `"`)
}
