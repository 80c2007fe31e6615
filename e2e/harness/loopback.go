package harness

import (
	"net/netip"
	"strconv"
	"testing"

	"sigs.k8s.io/yaml"
)

// Loopback rewrites every cluster endpoint of a rendered bootstrap with
// targets: the endpoint "address:port" as btp rendered it (an Envoy
// Gateway fixture's clusterIP or DNS name) becomes the backend's loopback
// address. An endpoint with no target fails the test, and so does any
// cluster address left outside 127.0.0.0/8 afterwards: tests send traffic to
// loopback only.
func Loopback(t testing.TB, bootstrap string, targets map[string]*Backend) string {
	t.Helper()
	var boot map[string]any
	if err := yaml.Unmarshal([]byte(bootstrap), &boot); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	clusters, _ := dig(boot, "static_resources", "clusters").([]any)
	for _, c := range clusters {
		name, _ := dig(c, "name").(string)
		eps, _ := dig(c, "load_assignment", "endpoints").([]any)
		for _, ep := range eps {
			lbs, _ := dig(ep, "lb_endpoints").([]any)
			for _, lb := range lbs {
				sa, _ := dig(lb, "endpoint", "address", "socket_address").(map[string]any)
				if sa == nil {
					continue
				}
				from := socketAddr(sa)
				be, ok := targets[from]
				if !ok {
					t.Fatalf("cluster %s: endpoint %s has no loopback target (have %v)", name, from, keysOf(targets))
				}
				sa["address"], sa["port_value"] = "127.0.0.1", be.Port
			}
		}
	}
	for _, c := range clusters {
		walkSocketAddrs(c, func(sa map[string]any) {
			a, err := netip.ParseAddr(fmtString(sa["address"]))
			if err != nil || !a.IsLoopback() {
				t.Fatalf("cluster %v: address %s is outside loopback", dig(c, "name"), socketAddr(sa))
			}
		})
	}
	out, err := yaml.Marshal(boot)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// ClusterAddrs lists every socket address ("address:port") in each cluster
// of a rendered bootstrap, by cluster name.
func ClusterAddrs(t testing.TB, bootstrap string) map[string][]string {
	t.Helper()
	var boot map[string]any
	if err := yaml.Unmarshal([]byte(bootstrap), &boot); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	out := map[string][]string{}
	clusters, _ := dig(boot, "static_resources", "clusters").([]any)
	for _, c := range clusters {
		name, _ := dig(c, "name").(string)
		walkSocketAddrs(c, func(sa map[string]any) { out[name] = append(out[name], socketAddr(sa)) })
	}
	return out
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func walkSocketAddrs(v any, f func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if sa, ok := c.(map[string]any); ok && k == "socket_address" {
				f(sa)
				continue
			}
			walkSocketAddrs(c, f)
		}
	case []any:
		for _, c := range t {
			walkSocketAddrs(c, f)
		}
	}
}

func socketAddr(sa map[string]any) string {
	return fmtString(sa["address"]) + ":" + fmtString(sa["port_value"])
}

func fmtString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatInt(int64(t), 10)
	case int:
		return strconv.Itoa(t)
	}
	return ""
}

func keysOf(m map[string]*Backend) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
