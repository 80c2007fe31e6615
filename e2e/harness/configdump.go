package harness

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// ConfigDump is Envoy's admin /config_dump?include_eds, decoded.
func (e *Envoy) ConfigDump(t testing.TB) map[string]any {
	t.Helper()
	code, body, err := e.Admin("/config_dump?include_eds")
	if err != nil || code != http.StatusOK {
		t.Fatalf("admin /config_dump: %d %v", code, err)
	}
	var dump map[string]any
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatalf("admin /config_dump: %v", err)
	}
	return dump
}

// dumpSections returns the config dump's sections whose @type ends with
// suffix (e.g. "ClustersConfigDump").
func dumpSections(dump map[string]any, suffix string) []map[string]any {
	var out []map[string]any
	configs, _ := dump["configs"].([]any)
	for _, c := range configs {
		m, _ := c.(map[string]any)
		if typ, _ := m["@type"].(string); strings.HasSuffix(typ, suffix) {
			out = append(out, m)
		}
	}
	return out
}

// XDSVersions is the version_info Envoy runs from per xDS resource set:
// "listeners" and "clusters" (LDS, CDS), "routes/NAME" per RDS route
// configuration.
func (e *Envoy) XDSVersions(t testing.TB) map[string]string {
	t.Helper()
	dump := e.ConfigDump(t)
	out := map[string]string{}
	for _, s := range dumpSections(dump, "ListenersConfigDump") {
		out["listeners"], _ = s["version_info"].(string)
	}
	for _, s := range dumpSections(dump, "ClustersConfigDump") {
		out["clusters"], _ = s["version_info"].(string)
	}
	for _, s := range dumpSections(dump, "RoutesConfigDump") {
		rcs, _ := s["dynamic_route_configs"].([]any)
		for _, rc := range rcs {
			name, _ := dig(rc, "route_config", "name").(string)
			out["routes/"+name], _ = dig(rc, "version_info").(string)
		}
	}
	return out
}

// RequireLoopbackUpstreams fails the test unless every socket address of
// the clusters and endpoints Envoy runs (static and from xDS) is in
// 127.0.0.0/8, and there is at least one: tests send traffic to loopback
// only. It returns how many addresses it checked.
func (e *Envoy) RequireLoopbackUpstreams(t testing.TB) int {
	t.Helper()
	dump := e.ConfigDump(t)
	n := 0
	for _, suffix := range []string{"ClustersConfigDump", "EndpointsConfigDump"} {
		for _, s := range dumpSections(dump, suffix) {
			walkSocketAddrs(s, func(sa map[string]any) {
				n++
				a, err := netip.ParseAddr(fmtString(sa["address"]))
				if err != nil || !a.IsLoopback() {
					t.Fatalf("envoy (admin %d) runs an upstream address %s outside loopback", e.AdminPort, socketAddr(sa))
				}
			})
		}
	}
	if n == 0 {
		t.Fatalf("envoy (admin %d): no cluster or endpoint address in /config_dump", e.AdminPort)
	}
	return n
}

// DynamicConfig is the configuration Envoy took over xDS, without versions
// and timestamps: its active listeners, route configurations, clusters and
// endpoint assignments, one canonical JSON line each, sorted. Two Envoys on
// the same snapshot have equal DynamicConfig.
func (e *Envoy) DynamicConfig(t testing.TB) []string {
	t.Helper()
	dump := e.ConfigDump(t)
	var out []string
	add := func(kind string, v any) {
		if v == nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+string(b))
	}
	sections := []struct {
		suffix, list, kind string
		path               []string
	}{
		{"ListenersConfigDump", "dynamic_listeners", "listener", []string{"active_state", "listener"}},
		{"RoutesConfigDump", "dynamic_route_configs", "route", []string{"route_config"}},
		{"ClustersConfigDump", "dynamic_active_clusters", "cluster", []string{"cluster"}},
		{"EndpointsConfigDump", "dynamic_endpoint_configs", "endpoints", []string{"endpoint_config"}},
	}
	for _, sec := range sections {
		for _, s := range dumpSections(dump, sec.suffix) {
			items, _ := s[sec.list].([]any)
			for _, it := range items {
				add(sec.kind, dig(it, sec.path...))
			}
		}
	}
	slices.Sort(out)
	return out
}
