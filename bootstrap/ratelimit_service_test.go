package bootstrap

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	sigsyaml "sigs.k8s.io/yaml"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// anyValue stands for a value the rate limit service config cannot know in
// advance (a Distinct header or query value, the client's address).
const anyValue = "\x00any"

// TestRateLimitServiceMatchesRoutes reads each golden bootstrap that has a
// rate limit service golden beside it, rebuilds from every route's
// rate_limits actions the descriptor Envoy sends, and looks it up in the
// service config the way envoyproxy/ratelimit does (exact key and value
// first, then the key with no value). Every descriptor must end on a node
// with a rate_limit, and every rate_limit in the service config must be
// reached by some route: the two halves agree both ways.
func TestRateLimitServiceMatchesRoutes(t *testing.T) {
	files, err := filepath.Glob("testdata/*.ratelimit.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rate limit service goldens: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".ratelimit.yaml")
		t.Run(name, func(t *testing.T) {
			cfgs := readServiceConfig(t, file)
			b := readBootstrap(t, filepath.Join("testdata", name+".out.yaml"))
			reached := map[*RateLimitDescriptor]bool{}
			sent := 0
			for _, rl := range routeRateLimits(t, b) {
				cfg := cfgs[rl.domain]
				if cfg == nil {
					t.Errorf("route %s sends domain %q, which the service config lacks", rl.route, rl.domain)
					continue
				}
				for _, r := range rl.limits {
					chain := descriptorOf(t, r)
					node := lookup(cfg.Descriptors, chain)
					if node == nil || node.RateLimit == nil {
						t.Errorf("route %s, domain %q: descriptor %q has no rate_limit in the service config", rl.route, rl.domain, chain)
						continue
					}
					reached[node] = true
					sent++
				}
			}
			if sent == 0 {
				t.Fatal("no route sends a descriptor: nothing was checked")
			}
			for domain, cfg := range cfgs {
				walkLimits(cfg.Descriptors, nil, func(path []string, d *RateLimitDescriptor) {
					if !reached[d] {
						t.Errorf("domain %q: rate_limit at %q is sent by no route", domain, path)
					}
				})
			}
		})
	}
}

type routeLimits struct {
	route, domain string
	limits        []*routev3.RateLimit
}

// routeRateLimits collects every route's RateLimitPerRoute, checking that
// its listener has a ratelimit filter for the domain.
func routeRateLimits(t *testing.T, b *bootstrapv3.Bootstrap) []routeLimits {
	t.Helper()
	var out []routeLimits
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				filterDomains := map[string]bool{}
				for _, hf := range hcm.GetHttpFilters() {
					rl := &ratelimitv3.RateLimit{}
					if hf.GetTypedConfig().UnmarshalTo(rl) == nil {
						filterDomains[rl.Domain] = true
					}
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						for _, cfg := range r.GetTypedPerFilterConfig() {
							per := &ratelimitv3.RateLimitPerRoute{}
							if cfg.UnmarshalTo(per) != nil {
								continue
							}
							if !filterDomains[per.Domain] {
								t.Errorf("route %s uses domain %q but listener %s has no ratelimit filter for it", r.Name, per.Domain, l.Name)
							}
							out = append(out, routeLimits{r.Name, per.Domain, per.RateLimits})
						}
					}
				}
			}
		}
	}
	return out
}

// descriptorOf is the key/value chain Envoy sends for r when every action
// produces its entry.
func descriptorOf(t *testing.T, r *routev3.RateLimit) []string {
	t.Helper()
	var chain []string
	for _, a := range r.Actions {
		var k, v string
		switch s := a.ActionSpecifier.(type) {
		case *routev3.RateLimit_Action_GenericKey_:
			k, v = s.GenericKey.DescriptorKey, s.GenericKey.DescriptorValue
		case *routev3.RateLimit_Action_HeaderValueMatch_:
			k, v = s.HeaderValueMatch.DescriptorKey, s.HeaderValueMatch.DescriptorValue
		case *routev3.RateLimit_Action_RequestHeaders_:
			k, v = s.RequestHeaders.DescriptorKey, anyValue
		case *routev3.RateLimit_Action_QueryParameters_:
			k, v = s.QueryParameters.DescriptorKey, anyValue
		case *routev3.RateLimit_Action_QueryParameterValueMatch_:
			k, v = s.QueryParameterValueMatch.DescriptorKey, s.QueryParameterValueMatch.DescriptorValue
		case *routev3.RateLimit_Action_RemoteAddressMatch_:
			k, v = s.RemoteAddressMatch.DescriptorKey, s.RemoteAddressMatch.DescriptorValue
			if strings.Contains(v, "%") { // a formatter: the client's address
				v = anyValue
			}
		default:
			t.Fatalf("action %T: the consistency test does not know what it sends", s)
		}
		if k == "" || v == "" {
			t.Fatalf("action %v sends an empty key or value", a)
		}
		chain = append(chain, k, v)
	}
	return chain
}

// lookup follows chain (key, value pairs) through the tree as the service
// does: a node with the exact key and value, else one with the key only.
func lookup(level []*RateLimitDescriptor, chain []string) *RateLimitDescriptor {
	var node *RateLimitDescriptor
	for i := 0; i < len(chain); i += 2 {
		var next *RateLimitDescriptor
		for _, d := range level {
			if d.Key == chain[i] && d.Value == chain[i+1] {
				next = d
				break
			}
			if d.Key == chain[i] && d.Value == "" && next == nil {
				next = d
			}
		}
		if next == nil {
			return nil
		}
		node, level = next, next.Descriptors
	}
	return node
}

func walkLimits(level []*RateLimitDescriptor, path []string, fn func([]string, *RateLimitDescriptor)) {
	for _, d := range level {
		p := append(append([]string(nil), path...), d.Key+"="+d.Value)
		if d.RateLimit != nil {
			fn(p, d)
		}
		walkLimits(d.Descriptors, p, fn)
	}
}

func readServiceConfig(t *testing.T, file string) map[string]*RateLimitConfig {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*RateLimitConfig{}
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	for {
		cfg := &RateLimitConfig{}
		if err := dec.Decode(cfg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if out[cfg.Domain] != nil {
			t.Fatalf("%s: domain %q twice", file, cfg.Domain)
		}
		out[cfg.Domain] = cfg
	}
	return out
}

func readBootstrap(t *testing.T, file string) *bootstrapv3.Bootstrap {
	t.Helper()
	y, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	js, err := sigsyaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return b
}

// globalInput is one route with a global rate limit rule; %s is the
// rule's extra fields (indented for the rule's mapping).
const globalInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: envoy-btp
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: app, namespace: default}
spec:
  endpoints: [{ip: {address: 10.0.0.1, port: 8080}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Global
    global:
      rules:
%s
`

func renderGlobal(t *testing.T, rules string) (*Rendered, error) {
	t.Helper()
	return renderGlobalUnit(t, rules, nil)
}

// renderGlobalUnit sets the first rule's unit to *unit (when not nil) after
// loading: policy.Load already rejects units outside Envoy Gateway's enum,
// so this reaches the renderer's own check, which guards models built in code.
func renderGlobalUnit(t *testing.T, rules string, unit *egv1a1.RateLimitUnit) (*Rendered, error) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(in, []byte(strings.Replace(globalInput, "%s", rules, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := policy.Load([]string{in}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if unit != nil {
		m.Gateways[0].Listeners[0].Routes[0].Rules[0].Policy.RateLimit.Global.Rules[0].Limit.Unit = *unit
	}
	return RenderAll(m, Options{})
}

func TestRateLimitServiceUnitsAndShadowMode(t *testing.T) {
	for _, tc := range []struct {
		rule       string
		setUnit    *egv1a1.RateLimitUnit // after loading
		unit       string
		shadow     bool
		wantErrors []string
	}{
		{rule: "limit: {requests: 7, unit: Second}", unit: "SECOND"},
		{rule: "limit: {requests: 7, unit: Minute}", unit: "MINUTE"},
		{rule: "limit: {requests: 7, unit: Hour}", unit: "HOUR"},
		{rule: "limit: {requests: 7, unit: Day}", unit: "DAY"},
		{rule: "limit: {requests: 7, unit: Week}", unit: "WEEK"},
		{rule: "limit: {requests: 7, unit: Month}", unit: "MONTH"},
		{rule: "limit: {requests: 7, unit: Year}", unit: "YEAR"},
		{rule: "limit: {requests: 7, unit: Minute}\n        shadowMode: true", unit: "MINUTE", shadow: true},
		{rule: "limit: {requests: 7, unit: Minute}\n        shadowMode: false", unit: "MINUTE"},
		{rule: "limit: {requests: 7, unit: Second}", setUnit: ptr[egv1a1.RateLimitUnit]("Fortnight"), wantErrors: []string{
			`spec.rateLimit.global.rules[0].limit.unit: "Fortnight": allowed Second, Minute, Hour, Day, Week, Month, Year`}},
		{rule: "limit: {requests: 7, unit: Second}", setUnit: ptr[egv1a1.RateLimitUnit](""), wantErrors: []string{
			`spec.rateLimit.global.rules[0].limit.unit: is required: allowed Second`}},
	} {
		name := tc.rule
		if tc.setUnit != nil {
			name += " then unit " + strconv.Quote(string(*tc.setUnit))
		}
		t.Run(name, func(t *testing.T) {
			out, err := renderGlobalUnit(t, "      - "+tc.rule, tc.setUnit)
			if len(tc.wantErrors) > 0 {
				if err == nil {
					t.Fatal("rendered; want an error")
				}
				for _, w := range tc.wantErrors {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.RateLimit) != 1 || out.RateLimit[0].Domain != "default/gw/http" {
				t.Fatalf("service config %+v: want one domain default/gw/http", out.RateLimit)
			}
			top := out.RateLimit[0].Descriptors
			if len(top) != 1 || top[0].Key != "httproute/default/app/rule/0/match/0/*" || len(top[0].Descriptors) != 1 {
				t.Fatalf("descriptors %+v: want the route's generic key with one rule below", top)
			}
			leaf := top[0].Descriptors[0]
			if leaf.Key != "rule-0-match--1" || leaf.Value != "rule-0-match--1" {
				t.Errorf("rule descriptor %s=%s: want rule-0-match--1 for a rule without selectors", leaf.Key, leaf.Value)
			}
			want := RateLimitPolicy{Unit: tc.unit, RequestsPerUnit: 7}
			if leaf.RateLimit == nil || *leaf.RateLimit != want || leaf.ShadowMode != tc.shadow {
				t.Errorf("limit %+v shadow %t: want %+v shadow %t", leaf.RateLimit, leaf.ShadowMode, want, tc.shadow)
			}
			y, err := RateLimitYAML(out.RateLimit)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(y), "shadow_mode: true"); got != tc.shadow {
				t.Errorf("YAML has shadow_mode: true = %t, want %t:\n%s", got, tc.shadow, y)
			}
		})
	}
}

// Two rules whose descriptors are the same (masked_remote_address carries no
// rule index, as in Envoy Gateway) cannot hold two limits.
func TestRateLimitServiceConflict(t *testing.T) {
	_, err := renderGlobal(t, `      - clientSelectors: [{sourceCIDR: {type: Exact, value: 10.0.0.0/8}}]
        limit: {requests: 1, unit: Second}
      - clientSelectors: [{sourceCIDR: {type: Exact, value: 10.0.0.0/8}}]
        limit: {requests: 2, unit: Second}`)
	want := `spec.rateLimit.global.rules[1].limit: "2/SECOND": conflicts with 1/SECOND (shadowMode false) already set for the same descriptors in rate limit domain "default/gw/http"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v: want %q", err, want)
	}
	// The same limit twice is one counter, not a conflict.
	out, err := renderGlobal(t, `      - clientSelectors: [{sourceCIDR: {type: Exact, value: 10.0.0.0/8}}]
        limit: {requests: 1, unit: Second}
      - clientSelectors: [{sourceCIDR: {type: Exact, value: 10.0.0.0/8}}]
        limit: {requests: 1, unit: Second}`)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.RateLimit[0].Descriptors[0].Descriptors); n != 1 {
		t.Errorf("%d descriptors under the route: want the shared one", n)
	}
}

func TestRateLimitServiceAbsentWithoutGlobalRules(t *testing.T) {
	m, err := policy.Load([]string{"testdata/routes.in.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderAll(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.RateLimit) != 0 {
		t.Errorf("service config %+v for an input without rateLimit.global", out.RateLimit)
	}
}

func ptr[T any](v T) *T { return &v }
