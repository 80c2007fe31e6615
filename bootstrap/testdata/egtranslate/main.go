// Command egtranslate runs Envoy Gateway v1.9.1's own translators (Gateway
// API resources -> IR -> xDS, and the rate limit service config) over btp's
// comparison fixtures and writes, for each <name>.in.yaml, <name>.eg.yaml:
// every listener's ratelimit filters, every route's RateLimitPerRoute
// configs and the rate limit service config per domain, as Envoy Gateway
// renders them. bootstrap/ratelimit_eg_test.go compares btp's render with
// these files key for key; `go test ./bootstrap -run TestRateLimitMatchesEnvoyGateway -eg-update`
// regenerates them.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"github.com/envoyproxy/gateway/internal/gatewayapi"
	"github.com/envoyproxy/gateway/internal/gatewayapi/resource"
	"github.com/envoyproxy/gateway/internal/logging"
	"github.com/envoyproxy/gateway/internal/xds/translator"
)

// Output is one fixture's Envoy Gateway rendering.
type Output struct {
	Listeners []Listener `json:"listeners"`
	Routes    []Route    `json:"routes"`
	// Service is the rate limit service config, one RateLimitConfig per
	// domain (sorted), as Envoy Gateway's BuildRateLimitServiceConfig builds
	// it and sends it to the service over xDS.
	Service []json.RawMessage `json:"service"`
}

// Listener holds a listener's ratelimit filters in HCM order.
type Listener struct {
	Name    string   `json:"name"`
	Filters []Filter `json:"filters"`
}

// Filter is one envoy.filters.http.ratelimit* filter.
type Filter struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

// Route is one xDS route with its ratelimit per-filter configs.
type Route struct {
	Name string `json:"name"`
	// PerFilter maps a ratelimit filter's name to its RateLimitPerRoute.
	PerFilter map[string]json.RawMessage `json:"perFilter,omitempty"`
	// RateLimits are route-level rate_limits (Envoy Gateway sets none; kept
	// so a change would show).
	RateLimits []json.RawMessage `json:"rateLimits,omitempty"`
}

func main() {
	dir := flag.String("dir", ".", "directory of *.in.yaml fixtures; <name>.eg.yaml is written beside each")
	flag.Parse()
	ins, err := filepath.Glob(filepath.Join(*dir, "*.in.yaml"))
	if err != nil || len(ins) == 0 {
		fail(fmt.Errorf("no *.in.yaml in %s: %v", *dir, err))
	}
	for _, in := range ins {
		out, err := translate(in)
		if err != nil {
			fail(fmt.Errorf("%s: %w", in, err))
		}
		b, err := json.Marshal(out)
		if err != nil {
			fail(err)
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			fail(err)
		}
		name := strings.TrimSuffix(in, ".in.yaml") + ".eg.yaml"
		src, err := os.ReadFile(in)
		if err != nil {
			fail(err)
		}
		// The input's hash lets the comparison test notice a fixture edited
		// without rerunning this generator.
		header := fmt.Sprintf("# Envoy Gateway v1.9.1's translator output for %s (bootstrap/testdata/egtranslate). Do not edit.\n# input sha256: %x\n",
			filepath.Base(in), sha256.Sum256(src))
		if err := os.WriteFile(name, append([]byte(header), y...), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "egtranslate:", err)
	os.Exit(1)
}

const controllerNamespace = "envoy-gateway-system"

// failClosedMarker in a fixture's name translates it with the rate limit
// service failing closed and a 50ms timeout.
const failClosedMarker = "failclosed"

func translate(in string) (*Output, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	res, err := resource.LoadResourcesFromYAMLBytes(b, true, nil)
	if err != nil {
		return nil, err
	}
	if res.GatewayClass == nil {
		return nil, fmt.Errorf("needs a GatewayClass")
	}
	// Envoy Gateway's control plane always holds the client certificate
	// Envoy uses towards the rate limit service; the fixtures (read by btp
	// too) do not, so it is added here.
	res.Secrets = append(res.Secrets, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNamespace, Name: "envoy"},
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")},
	})
	gt := &gatewayapi.Translator{
		ControllerNamespace:     controllerNamespace,
		GatewayControllerName:   string(res.GatewayClass.Spec.ControllerName),
		GatewayClassName:        gwapiv1.ObjectName(res.GatewayClass.Name),
		GlobalRateLimitEnabled:  true,
		EndpointRoutingDisabled: true,
		BackendEnabled:          true,
		Logger:                  logging.DefaultLogger(io.Discard, egv1a1.LogLevelInfo),
	}
	gres, err := gt.Translate(context.Background(), res)
	if err != nil {
		return nil, fmt.Errorf("gateway API translation: %w", err)
	}
	if err := accepted(gres); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(gres.XdsIR))
	for k := range gres.XdsIR {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := &Output{}
	for _, k := range keys {
		xir := gres.XdsIR[k]
		settings := &translator.GlobalRateLimitSettings{ServiceURL: "grpc://ratelimit.envoy-gateway-system.svc.cluster.local:8081"}
		if strings.Contains(filepath.Base(in), failClosedMarker) {
			// EnvoyGateway rateLimit.failClosed: true, rateLimit.timeout: 50ms
			// (btp: --ratelimit-fail-closed --ratelimit-timeout 50ms).
			settings.FailClosed, settings.Timeout = true, 50*time.Millisecond
		}
		xt := &translator.Translator{
			GlobalRateLimit: settings,
			Logger:          logging.DefaultLogger(io.Discard, egv1a1.LogLevelInfo),
		}
		tables, err := xt.Translate(context.Background(), xir)
		if err != nil {
			return nil, fmt.Errorf("xDS translation of %s: %w", k, err)
		}
		xres := tables.GetXdsResources()
		for _, r := range xres[resourcev3.ListenerType] {
			l, err := listener(r.(*listenerv3.Listener))
			if err != nil {
				return nil, err
			}
			if len(l.Filters) > 0 {
				out.Listeners = append(out.Listeners, l)
			}
		}
		for _, r := range xres[resourcev3.RouteType] {
			rc := r.(*routev3.RouteConfiguration)
			for _, vh := range rc.VirtualHosts {
				for _, rt := range vh.Routes {
					route, err := routeOf(rt)
					if err != nil {
						return nil, err
					}
					if route.PerFilter != nil || route.RateLimits != nil {
						out.Routes = append(out.Routes, route)
					}
				}
			}
		}
		cfgs := translator.BuildRateLimitServiceConfig(xir.HTTP)
		sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Domain < cfgs[j].Domain })
		for _, cfg := range cfgs {
			j, err := marshal(cfg)
			if err != nil {
				return nil, err
			}
			out.Service = append(out.Service, j)
		}
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Name < out.Routes[j].Name })
	return out, nil
}

// accepted fails when Envoy Gateway did not accept every policy: a fixture
// must mean the same to both, and a refused policy renders nothing to
// compare.
func accepted(gres *gatewayapi.TranslateResult) error {
	for _, p := range gres.BackendTrafficPolicies {
		for _, a := range p.Status.Ancestors {
			for _, c := range a.Conditions {
				if c.Type == "Accepted" && c.Status != "True" {
					return fmt.Errorf("BackendTrafficPolicy %s/%s not accepted: %s", p.Namespace, p.Name, c.Message)
				}
			}
		}
	}
	for _, r := range gres.HTTPRoutes {
		for _, pa := range r.Status.Parents {
			for _, c := range pa.Conditions {
				if c.Type == "Accepted" && c.Status != "True" {
					return fmt.Errorf("HTTPRoute %s/%s not accepted: %s", r.Namespace, r.Name, c.Message)
				}
			}
		}
	}
	return nil
}

func listener(l *listenerv3.Listener) (Listener, error) {
	out := Listener{Name: l.Name}
	for _, fc := range append(l.FilterChains, l.DefaultFilterChain) {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(hcm) != nil {
				continue
			}
			for _, hf := range hcm.HttpFilters {
				rl := &ratelimitfilterv3.RateLimit{}
				if hf.GetTypedConfig() == nil || hf.GetTypedConfig().UnmarshalTo(rl) != nil {
					continue
				}
				j, err := marshal(rl)
				if err != nil {
					return out, err
				}
				out.Filters = append(out.Filters, Filter{Name: hf.Name, Config: j})
			}
		}
	}
	return out, nil
}

func routeOf(rt *routev3.Route) (Route, error) {
	out := Route{Name: rt.Name}
	for name, a := range rt.TypedPerFilterConfig {
		per := &ratelimitfilterv3.RateLimitPerRoute{}
		if a.UnmarshalTo(per) != nil {
			continue
		}
		j, err := marshal(per)
		if err != nil {
			return out, err
		}
		if out.PerFilter == nil {
			out.PerFilter = map[string]json.RawMessage{}
		}
		out.PerFilter[name] = j
	}
	for _, r := range rt.GetRoute().GetRateLimits() {
		j, err := marshal(r)
		if err != nil {
			return out, err
		}
		out.RateLimits = append(out.RateLimits, j)
	}
	return out, nil
}

func marshal(m proto.Message) (json.RawMessage, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
}
