package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// The configurations benchload compares. Each is one Envoy with the same
// listener, route and cluster (all from one `btp render` of the policy);
// they differ in the HTTP filters and the route's policy.
const (
	// Bare: the router only; the route has no policy.
	Bare = "bare"
	// Module: the btp dynamic module enforcing the policy, as rendered.
	Module = "module"
	// Native: Envoy's own filters configured for the same policy.
	Native = "native"
	// ModuleEmpty: the module in the chain with an empty per-route config:
	// what having the module costs a route without a policy.
	ModuleEmpty = "module-empty"
	// ModuleBase: Module with the .so from -baseline (before/after in one run).
	ModuleBase = "module-base"
	// FloorSDK: the do-nothing module on the Envoy Go SDK (floor/), in the
	// chain as ModuleEmpty is: it reads its per-route config and continues.
	FloorSDK = "floor-sdk"
	// FloorABI: plugin/dynmod built with -tags btpfloor (our own ABI code):
	// one call into Go per request that reads the per-route config and
	// continues; the least a route with a policy can cost through this host.
	FloorABI = "floor-abi"
	// ModuleOff: a route without a policy on a listener whose chain has
	// the module, as rendered: the filter is disabled: true in the chain and
	// the route does not enable it, so Envoy creates no module filter.
	ModuleOff = "module-off"
)

// features of the policy (testdata/policy.yaml.tmpl). Module and Native
// have all five; module-FEATURE and native-FEATURE only that one.
var features = []string{"ratelimit", "fault", "override", "buffer", "retry"}

// setup is what a configuration's name says: the kind of Envoy and the
// features its policy has.
type setup struct {
	kind     string
	features map[string]bool
}

func (s setup) has(f string) bool { return s.features[f] }

// enforcing reports whether the configuration enforces its policy (module
// or native filters), not only carries the module.
func (s setup) enforcing() bool {
	return s.kind == Module || s.kind == ModuleBase || s.kind == Native
}

// parseSetup reads a configuration's name (without its @environment).
func parseSetup(name string) (setup, error) {
	all := map[string]bool{}
	for _, f := range features {
		all[f] = true
	}
	switch name {
	case Bare, Module, Native, ModuleEmpty, ModuleBase, FloorSDK, FloorABI, ModuleOff:
		return setup{kind: name, features: all}, nil
	}
	for _, kind := range []string{Module, Native} {
		if f, ok := strings.CutPrefix(name, kind+"-"); ok && slices.Contains(features, f) {
			return setup{kind: kind, features: map[string]bool{f: true}}, nil
		}
	}
	return setup{}, fmt.Errorf("unknown configuration %q: allowed %s, and module-F or native-F for F in %s",
		name, strings.Join(allConfigs, ", "), strings.Join(features, ", "))
}

//go:embed testdata/policy.yaml.tmpl
var policyTemplate string

//go:embed testdata/native.yaml
var nativeYAML []byte

// ports of one configuration's Envoy.
type ports struct{ listen, admin, backend int }

// bootstrap renders the policy with `btp render` for p and turns it into
// configuration name's bootstrap.
func bootstrap(btp string, su setup, p ports) (string, error) {
	var res bytes.Buffer
	tpl := template.Must(template.New("policy").Option("missingkey=error").Parse(policyTemplate))
	has := map[string]bool{}
	for _, f := range features {
		has[f] = su.has(f)
	}
	if err := tpl.Execute(&res, map[string]any{"Port": p.listen, "BackendPort": p.backend, "Features": has}); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "benchload-render-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(in, res.Bytes(), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(btp, "render", "-f", in, "--host", "dynamic-module", "--admin-port", strconv.Itoa(p.admin), "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("btp render: %v\n%s", err, msg)
	}
	rendered, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	var b map[string]any
	if err := yaml.Unmarshal(rendered, &b); err != nil {
		return "", err
	}
	if err := derive(b, su); err != nil {
		return "", fmt.Errorf("%s: %w (rendered bootstrap:\n%s)", su.kind, err, rendered)
	}
	if err := loopbackOnly(b); err != nil {
		return "", err
	}
	y, err := yaml.Marshal(b)
	return string(y), err
}

// derive edits the rendered bootstrap b (one listener, one route) into
// configuration su. The listener binds 127.0.0.1.
func derive(b map[string]any, su setup) error {
	listener, err := object(b, "static_resources", "listeners", 0)
	if err != nil {
		return err
	}
	addr, err := object(listener, "address", "socket_address")
	if err != nil {
		return err
	}
	addr["address"] = "127.0.0.1"
	hcm, err := object(listener, "filter_chains", 0, "filters", 0, "typed_config")
	if err != nil {
		return err
	}
	route, err := object(hcm, "route_config", "virtual_hosts", 0, "routes", 0)
	if err != nil {
		return err
	}
	// btp render enables the disabled module filter on the route with a
	// FilterConfig around the module's per-route config.
	module, err := object(route, "typed_per_filter_config", "envoy.filters.http.dynamic_modules", "config", "filter_config")
	if err != nil {
		return err
	}
	filters, _ := hcm["http_filters"].([]any)
	if len(filters) != 2 {
		return fmt.Errorf("want two HTTP filters, the btp module and the router; got %d", len(filters))
	}
	router := filters[1]
	noPolicy := func() {
		delete(route, "request_body_buffer_limit")
		if r, err := object(route, "route"); err == nil {
			delete(r, "retry_policy")
		}
	}
	switch su.kind {
	case Module, ModuleBase:
	case ModuleOff:
		if m, _ := filters[0].(map[string]any); m["disabled"] != true {
			return fmt.Errorf("the module filter in the chain is not disabled: true")
		}
		noPolicy()
		delete(route, "typed_per_filter_config")
	case ModuleEmpty, FloorSDK, FloorABI:
		noPolicy()
		module["value"] = "{}"
	case Bare:
		noPolicy()
		hcm["http_filters"] = []any{router}
		delete(route, "typed_per_filter_config")
	case Native:
		var n struct {
			HTTPFilters    []map[string]any `json:"http_filters"`
			TypedPerFilter map[string]any   `json:"typed_per_filter_config"`
		}
		if err := yaml.Unmarshal(nativeYAML, &n); err != nil {
			return fmt.Errorf("testdata/native.yaml: %w", err)
		}
		// Envoy Gateway sizes the stream's buffer with the buffer filter,
		// not with the route's request_body_buffer_limit.
		delete(route, "request_body_buffer_limit")
		// The filters of the configuration's features (retry has none:
		// the route's retry_policy, rendered only when the policy has it).
		var chain []any
		perFilter := map[string]any{}
		for _, f := range n.HTTPFilters {
			name, _ := f["name"].(string)
			feature, ok := nativeFeature[name]
			if !ok {
				return fmt.Errorf("testdata/native.yaml: filter %q stands in for no feature: allowed %v", name, nativeFeature)
			}
			if su.has(feature) {
				chain = append(chain, f)
				if c, ok := n.TypedPerFilter[name]; ok {
					perFilter[name] = c
				}
			}
		}
		hcm["http_filters"] = append(chain, router)
		if len(perFilter) > 0 {
			route["typed_per_filter_config"] = perFilter
		} else {
			delete(route, "typed_per_filter_config")
		}
	default:
		return fmt.Errorf("unknown configuration kind %q", su.kind)
	}
	return nil
}

// nativeFeature: which policy feature each native filter stands in for
// (testdata/native.yaml).
var nativeFeature = map[string]string{
	"envoy.filters.http.custom_response": "override",
	"envoy.filters.http.fault":           "fault",
	"envoy.filters.http.buffer":          "buffer",
	"envoy.filters.http.local_ratelimit": "ratelimit",
}

var allConfigs = []string{Bare, Module, Native, ModuleEmpty, ModuleOff, ModuleBase, FloorSDK, FloorABI}

// object walks maps (string keys) and lists (int keys) to an object.
func object(v any, keys ...any) (map[string]any, error) {
	for i, k := range keys {
		var ok bool
		switch k := k.(type) {
		case string:
			var m map[string]any
			if m, ok = v.(map[string]any); ok {
				v, ok = m[k]
			}
		case int:
			var l []any
			if l, ok = v.([]any); ok && k < len(l) {
				v = l[k]
			} else {
				ok = false
			}
		}
		if !ok {
			return nil, fmt.Errorf("rendered bootstrap has no %v", keys[:i+1])
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rendered bootstrap: %v is not an object", keys)
	}
	return m, nil
}

// loopbackOnly checks that every socket address in the bootstrap is
// 127.0.0.1: the benchmark's traffic stays on loopback.
func loopbackOnly(v any) error {
	switch v := v.(type) {
	case map[string]any:
		if sa, ok := v["socket_address"].(map[string]any); ok && sa["address"] != "127.0.0.1" {
			return fmt.Errorf("bootstrap address %v is not 127.0.0.1", sa["address"])
		}
		for _, e := range v {
			if err := loopbackOnly(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := loopbackOnly(e); err != nil {
				return err
			}
		}
	}
	return nil
}
