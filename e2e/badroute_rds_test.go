package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// rdsRoutes is an RDS DiscoveryResponse with one route carrying btp config.
func rdsRoutes(version, routeConfig string) string {
	return `version_info: "` + version + `"
resources:
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: main
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match: {prefix: "/"}
      route: {cluster: be0}
      typed_per_filter_config:
        envoy.filters.http.dynamic_modules:
          "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute
          dynamic_module_config: {name: btp_module}
          per_route_config_name: btp
          filter_config:
            "@type": type.googleapis.com/google.protobuf.StringValue
            value: '` + routeConfig + `'
`
}

// TestBadRouteConfigInUpdateRefused: on the dynamic-module host a bad
// per-route config is refused when Envoy loads the route table; in an RDS
// update that refuses the whole update, and the running Envoy keeps serving
// on the route table it had (docs/dynmod.md). A good update after it is
// taken, so the watch itself works.
func TestBadRouteConfigInUpdateRefused(t *testing.T) {
	be := harness.StartBackends(t, "be", 1)
	dir := t.TempDir()
	rds := filepath.Join(dir, "rds.yaml")
	update := func(content string) {
		t.Helper()
		// Envoy watches for the file being moved into place.
		tmp := filepath.Join(dir, "rds.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rds); err != nil {
			t.Fatal(err)
		}
	}
	const abort418 = `{"faultInjection": {"abort": {"httpStatus": 418}}}`
	update(rdsRoutes("1", abort418))
	v := harness.NewVars(t, be)
	v.Values = map[string]any{"RDS": rds}
	boot := harness.Execute(t, "testdata/badroute_rds.bootstrap.yaml", v)
	for name, as := range harness.ClusterAddrs(t, boot) {
		for _, a := range as {
			if !strings.HasPrefix(a, "127.") {
				t.Fatalf("cluster %s: address %s is outside loopback", name, a)
			}
		}
	}
	e := harness.StartEnvoy(t, boot, v.AdminPort)
	url := "http://127.0.0.1:" + strconv.Itoa(v.Port) + "/"
	if code, _, _ := harness.Get(t, url, nil); code != 418 {
		t.Fatalf("first route table: status %d, want 418", code)
	}

	update(rdsRoutes("2", `{"faultInjection": {"abort": {"httpStatus": 503}}, "retries": {}}`))
	e.WaitStat(t, "http.main.rds.main.update_rejected", 10*time.Second, func(n int64) bool { return n >= 1 })
	if !e.Running() {
		t.Fatal("envoy stopped on a bad route config update")
	}
	if code, _, _ := harness.Get(t, url, nil); code != 418 {
		t.Fatalf("after the refused update: status %d, want the old table's 418", code)
	}
	if log := e.Log(); !strings.Contains(log, "btp per-route config: retries: unknown field") {
		t.Errorf("envoy log lacks the btp error naming the field; log:\n%s", log)
	}

	update(rdsRoutes("3", `{}`))
	e.WaitStat(t, "http.main.rds.main.update_success", 10*time.Second, func(n int64) bool { return n >= 2 })
	if code, _, _ := harness.Get(t, url, nil); code != 200 {
		t.Fatalf("after a good update: status %d, want 200", code)
	}
}
