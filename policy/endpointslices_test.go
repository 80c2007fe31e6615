package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// egSliceFixtures are the EndpointSlices Envoy Gateway's TestTranslate adds
// for its Service fixtures (service-1..4: 7.7.7.7 on ports http 8080,
// https 8443, tcp 8163, udp 8162; mirror-service: 7.6.5.4:8080).
func egSliceFixtures() string {
	var docs []string
	for i := 1; i <= 4; i++ {
		docs = append(docs, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: endpointslice-%d, namespace: default, labels: {kubernetes.io/service-name: service-%d}}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
- {name: https, port: 8443, protocol: TCP}
- {name: tcp, port: 8163, protocol: TCP}
- {name: udp, port: 8162, protocol: UDP}
endpoints:
- {addresses: [7.7.7.7], conditions: {ready: true}}
`, i, i))
	}
	docs = append(docs, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mirror-service-endpointslice, namespace: default, labels: {kubernetes.io/service-name: mirror-service}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [7.6.5.4], conditions: {ready: true}}
`)
	return strings.Join(docs, "---\n")
}

// TestEnvoyGatewayEndpoints: for Envoy Gateway's translator cases with
// EndpointSlices or routingType, every route rule btp attaches gets, backend
// by backend, the endpoints (host:port) Envoy Gateway's xDS IR gives its
// destination settings: EndpointSlice endpoints by port name and protocol,
// draining ones kept, the cluster IP under routingType: Service (with its
// rule > route > listener > gateway lookup and mergeType), headless
// Services on their endpoints.
func TestEnvoyGatewayEndpoints(t *testing.T) {
	all, err := filepath.Glob(filepath.Join(egTestdata(t), "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wanted := regexp.MustCompile(`(?mi)routingType:|^endpointslices:`)
	routes := regexp.MustCompile(`(?mi)^(httpRoutes|grpcRoutes):`)
	cases, rules, matched := 0, 0, 0
	for _, in := range all {
		raw, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if !wanted.Match(raw) || !routes.Match(raw) {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		if envoyProxyRoutingType(t, raw) {
			continue // EnvoyProxy's routingType: btp reads no EnvoyProxy
		}
		input, _ := egInput(t, in)
		r, _ := Read([]string{"-"}, strings.NewReader(input+"---\n"+egSliceFixtures()))
		m, _ := Resolve(r)
		want := egEndpoints(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml")
		got := btpEndpoints(m)
		cases++
		for k, w := range want {
			g, ok := got[k]
			// Not comparable: a rule btp does not attach (a kind or field it
			// refuses), a backendRef btp refuses with an error (ServiceImport,
			// a cross-namespace reference), a rule whose backends Envoy
			// Gateway merged into a shared cluster (mergeBackends).
			if !ok || len(w) == 0 || len(g) != len(w) {
				continue
			}
			rules++
			if strings.Join(g, " | ") == strings.Join(w, " | ") {
				matched++
				continue
			}
			t.Errorf("%s: %s rule %d on %s: btp routes to %v, Envoy Gateway to %v", name, k.route, k.rule, k.listener, g, w)
		}
	}
	t.Logf("compared the endpoints of %d route rules in %d Envoy Gateway cases with EndpointSlices or routingType: %d equal", rules, cases, matched)
	if cases < 100 || rules < 150 {
		t.Errorf("compared %d rules in %d cases, want at least 150 in 100", rules, cases)
	}
}

// egEndpoints reads each route rule's destination endpoints from a case's
// xdsIR: per backend "host:port,..." (sorted). Direct-response routes are
// left out.
func egEndpoints(t *testing.T, path string) map[ruleKey][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		XdsIR map[string]struct {
			HTTP []struct {
				Name   string
				Routes []struct {
					Name           string
					DirectResponse any `json:"directResponse"`
					Destination    struct {
						Settings []struct {
							Endpoints []struct {
								Host string
								Port int
							}
						}
					}
				}
			}
		} `json:"xdsIR"`
	}
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	m := map[ruleKey][]string{}
	for _, x := range out.XdsIR {
		for _, l := range x.HTTP {
			for _, r := range l.Routes {
				parts := strings.Split(r.Name, "/")
				if len(parts) < 5 || (parts[0] != "httproute" && parts[0] != "grpcroute") || parts[3] != "rule" || r.DirectResponse != nil {
					continue
				}
				var i int
				if _, err := fmt.Sscan(parts[4], &i); err != nil {
					continue
				}
				var backends []string
				for _, s := range r.Destination.Settings {
					var eps []string
					for _, e := range s.Endpoints {
						eps = append(eps, fmt.Sprintf("%s:%d", e.Host, e.Port))
					}
					sort.Strings(eps)
					backends = append(backends, strings.Join(eps, ","))
				}
				m[ruleKey{l.Name, parts[0] + ":" + parts[1] + "/" + parts[2], i}] = backends
			}
		}
	}
	return m
}

// btpEndpoints is the same map from btp's model (weight-0 backends left
// out, as Envoy Gateway leaves them out of its settings).
func btpEndpoints(m *Model) map[ruleKey][]string {
	out := map[ruleKey][]string{}
	for _, g := range m.Gateways {
		for _, l := range g.Listeners {
			for _, r := range l.Routes {
				for _, rule := range r.Rules {
					var backends []string
					for _, b := range rule.Backends {
						if b.Weight == 0 {
							continue
						}
						var eps []string
						for _, e := range b.Endpoints {
							eps = append(eps, fmt.Sprintf("%s:%d", e.Address, e.Port))
						}
						sort.Strings(eps)
						backends = append(backends, strings.Join(eps, ","))
					}
					out[ruleKey{g.Name.String() + "/" + l.Name, strings.ToLower(r.Kind) + ":" + r.Name.String(), rule.Index}] = backends
				}
			}
		}
	}
	return out
}

// envoyProxyRoutingType reports whether a case's EnvoyProxy sets routingType.
func envoyProxyRoutingType(t *testing.T, raw []byte) bool {
	t.Helper()
	var in map[string]any
	if err := yaml.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	for k, v := range in {
		if !strings.HasPrefix(strings.ToLower(k), "envoyprox") {
			continue
		}
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		for _, it := range items {
			if get(it, "spec.routingType") != nil {
				return true
			}
		}
	}
	return false
}

func TestEndpointSlices(t *testing.T) {
	const base = gatewayYAML + `---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.0.0.5, ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{name: a, backendRefs: [{name: web, port: 80}]}]
`
	slice := func(name, ns, svc, typ, port, addrs string) string {
		return fmt.Sprintf("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: %s, namespace: %s, labels: {kubernetes.io/service-name: %s}}\naddressType: %s\nports: [%s]\nendpoints: [{addresses: [%s]}]\n", name, ns, svc, typ, port, addrs)
	}
	for _, tc := range []struct {
		name, extra, want, err string
	}{
		{"no slice: the cluster IP", "", "10.0.0.5:80", ""},
		{"slices of the Service only", slice("s1", "default", "web", "IPv4", "{name: http, port: 8080}", "10.1.0.1") +
			slice("s2", "other", "web", "IPv4", "{name: http, port: 8080}", "10.9.0.1") +
			slice("s3", "default", "web2", "IPv4", "{name: http, port: 8080}", "10.9.0.2"), "10.1.0.1:8080", ""},
		{"no slice port of that name: no endpoint, no error", slice("s1", "default", "web", "IPv4", "{name: grpc, port: 9000}", "10.1.0.1"), "", ""},
		{"FQDN and IP slices mixed", slice("s1", "default", "web", "IPv4", "{name: http, port: 8080}", "10.1.0.1") +
			slice("s2", "default", "web", "FQDN", "{name: http, port: 8080}", "a.example"), "",
			"spec.rules[0].backendRefs[0].name: Service default/web: mixed endpointslice address type for the same backendRef is not supported"},
		{"routingType: Service on the route", slice("s1", "default", "web", "IPv4", "{name: http, port: 8080}", "10.1.0.1") +
			btp("p", "", "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n", "  routingType: Service\n"), "10.0.0.5:80", ""},
		// A route policy with mergeType and no routingType defers to the
		// Gateway's routingType; without mergeType it would pin Endpoint.
		{"mergeType defers to the Gateway's routingType", slice("s1", "default", "web", "IPv4", "{name: http, port: 8080}", "10.1.0.1") +
			btp("g", "2024-01-01T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n", "  routingType: Service\n") +
			btp("p", "2024-01-02T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: a}]\n", "  mergeType: StrategicMerge\n  retry: {}\n"), "10.0.0.5:80", ""},
		{"no mergeType pins Endpoint", slice("s1", "default", "web", "IPv4", "{name: http, port: 8080}", "10.1.0.1") +
			btp("g", "2024-01-01T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n", "  routingType: Service\n") +
			btp("p", "2024-01-02T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: a}]\n", "  retry: {}\n"), "10.1.0.1:8080", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, base+tc.extra)
			if tc.err != "" {
				wantErrors(t, errs, tc.err)
				return
			}
			wantErrors(t, errs)
			got := btpEndpoints(m)[ruleKey{"default/gw/http", "httproute:default/r", 0}]
			if strings.Join(got, " | ") != tc.want {
				t.Errorf("endpoints %v, want %q", got, tc.want)
			}
		})
	}
}
