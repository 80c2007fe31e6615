package e2e

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

var typedStructs = []string{"xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"}

// typedStructBootstrap renders testdata/typedstruct.bootstrap.yaml with both
// btp configs as typ, checking every cluster address is on loopback.
func typedStructBootstrap(t *testing.T, v harness.Vars, typ, filterConfig, routeConfig string) string {
	t.Helper()
	v.Values = map[string]any{"Type": typ, "FilterConfig": filterConfig, "RouteConfig": routeConfig}
	boot := harness.Execute(t, "testdata/typedstruct.bootstrap.yaml", v)
	for cluster, addrs := range harness.ClusterAddrs(t, boot) {
		for _, a := range addrs {
			if ap, err := netip.ParseAddrPort(a); err != nil || !ap.Addr().IsLoopback() {
				t.Fatalf("cluster %s: address %s is outside loopback", cluster, a)
			}
		}
	}
	return boot
}

// Both TypedStructs docs/engine.md names work in the dynamic-module host, at
// the filter level and per route: the filter-level abort answers /, the
// route's own abort answers /route.
func TestTypedStructConfigs(t *testing.T) {
	bs := harness.StartBackends(t, "be", 1)
	for _, typ := range typedStructs {
		t.Run(typ, func(t *testing.T) {
			v := harness.NewVars(t, bs)
			boot := typedStructBootstrap(t, v, typ, `{faultInjection: {abort: {httpStatus: 418}}}`, `{faultInjection: {abort: {httpStatus: 503}}}`)
			e := harness.StartEnvoy(t, boot, v.AdminPort)
			defer e.Stop()
			p := &harness.Proxy{Envoy: e, Port: v.Port, Backends: bs}
			if code, _, body := harness.Get(t, p.URL("/"), nil); code != 418 || body != "fault filter abort" {
				t.Errorf("GET / = %d %q, want the filter-level abort 418", code, body)
			}
			if code, _, body := harness.Get(t, p.URL("/route"), nil); code != 503 || body != "fault filter abort" {
				t.Errorf("GET /route = %d %q, want the per-route abort 503", code, body)
			}
			if n := bs[0].Hits(); n != 0 {
				t.Errorf("backend saw %d requests, want 0 (every request aborted)", n)
			}
		})
	}
}

// A bad config in either TypedStruct is refused at load with the field
// path: here a rate-limit rule without limit.requests (once taken as 0,
// so every request got a 429) and a header name no request can carry.
func TestTypedStructBadConfigRefused(t *testing.T) {
	bs := harness.StartBackends(t, "be", 1)
	for _, typ := range typedStructs {
		t.Run(typ, func(t *testing.T) {
			v := harness.NewVars(t, bs)
			boot := typedStructBootstrap(t, v, typ, `{}`, `{rateLimit: {type: Local, local: {rules: [{limit: {unit: Second}}]}}}`)
			log := harness.RunEnvoyExpectExit(t, boot)
			for _, w := range []string{"btp per-route config: rateLimit.local.rules[0].limit.requests: required", "Failed to initialize"} {
				if !strings.Contains(log, w) {
					t.Errorf("envoy log lacks %q; log:\n%s", w, log)
				}
			}
		})
	}
}
