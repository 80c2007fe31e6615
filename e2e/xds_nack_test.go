package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/e2e/harness"
	"github.com/envoy-btp/envoy-btp/policy"
	"github.com/envoy-btp/envoy-btp/xds"
)

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestXDSNack: a route configuration a real Envoy rejects (a regex that
// does not compile, which btp never renders: the server is driven directly)
// is NACKed; the server logs the NACK with the node id, the type, the
// rejected version and Envoy's reason, /status reports it, and Envoy keeps
// serving the version it had. The next good version is acked and clears it.
func TestXDSNack(t *testing.T) {
	bs := harness.StartBackends(t, "be", 1)
	v := harness.NewVars(t, bs)
	v.Values = map[string]any{"limit": 1000, "unit": "Hour", "extra": false}
	in := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(in, []byte(harness.Execute(t, "testdata/xds.yaml.tmpl", v)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := policy.Load([]string{in}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bootstrap.RenderAll(m, bootstrap.Options{Host: bootstrap.HostDynamicModule})
	if err != nil {
		t.Fatal(err)
	}
	harness.Loopback(t, mustYAML(t, r), map[string]*harness.Backend{bs[0].Addr(): bs[0]})
	good, err := r.Resources()
	if err != nil {
		t.Fatal(err)
	}

	var log lockedLog
	srv := xds.New(&log)
	if _, _, err := srv.Push(good, m.Policies); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(harness.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	boot, err := bootstrap.RenderXDS(bootstrap.XDSOptions{ServerURL: "grpc://" + lis.Addr().String(), NodeID: "nacker", AdminPort: uint32(v.AdminPort)})
	if err != nil {
		t.Fatal(err)
	}
	y, err := bootstrap.YAML(boot)
	if err != nil {
		t.Fatal(err)
	}
	harness.StartEnvoy(t, string(y), v.AdminPort)
	url := "http://127.0.0.1:" + strconv.Itoa(v.Port) + "/other"
	if code, _, _ := harness.Get(t, url, nil); code != http.StatusOK {
		t.Fatalf("GET /other on version 1: %d", code)
	}

	// Version 2: /other's match becomes a regex Envoy cannot compile.
	bad := *good
	bad.Routes = []*routev3.RouteConfiguration{proto.Clone(good.Routes[0]).(*routev3.RouteConfiguration)}
	broke := false
	for _, vh := range bad.Routes[0].VirtualHosts {
		for _, rt := range vh.Routes {
			if strings.Contains(rt.Name, "httproute/default/other/") {
				rt.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/other(("}}
				broke = true
			}
		}
	}
	if !broke {
		t.Fatal("no /other route to break")
	}
	if v, _, err := srv.Push(&bad, m.Policies); err != nil || v != 2 {
		t.Fatalf("push of the bad route configuration: %d %v", v, err)
	}
	want := "btp serve: NACK from nacker: " + resourcev3.RouteType + " version 2 (Envoy keeps version 1): "
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no NACK line %q within 10s:\n%s", want, log.String())
		}
	}
	line := log.String()[strings.Index(log.String(), want):]
	line = line[:strings.IndexByte(line, '\n')]
	t.Logf("%s", line)
	if !strings.Contains(line, "/other((") {
		t.Errorf("the NACK line lacks Envoy's reason naming the regex: %s", line)
	}
	n := srv.Status().Nodes["nacker"]
	if n.Nacked[resourcev3.RouteType] != "2" || n.Acked[resourcev3.RouteType] != "1" || n.Error == "" {
		t.Fatalf("status after the NACK: %+v", n)
	}
	if code, _, _ := harness.Get(t, url, nil); code != http.StatusOK {
		t.Fatalf("GET /other after the NACK: %d, want version 1's 200", code)
	}

	// Version 3, good again: acked, the NACK cleared.
	fixed := *good
	fixed.Routes = []*routev3.RouteConfiguration{proto.Clone(good.Routes[0]).(*routev3.RouteConfiguration)}
	fixed.Routes[0].VirtualHosts[0].Name += "-fixed" // differ from version 1, so it is a new version
	if v, _, err := srv.Push(&fixed, m.Policies); err != nil || v != 3 {
		t.Fatalf("push of the fix: %d %v", v, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := srv.Status().Nodes["nacker"]
		if n.Acked[resourcev3.RouteType] == "3" && len(n.Nacked) == 0 && n.Error == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fix was not acked within 10s: %+v", n)
		}
	}
}

func mustYAML(t *testing.T, r *bootstrap.Rendered) string {
	t.Helper()
	y, err := bootstrap.YAML(r.Bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}
