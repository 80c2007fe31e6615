package bootstrap

import (
	"reflect"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// model is one Gateway listener on port with one route of one rule to one
// backend, carrying spec (nil for no policy).
func model(port int32, spec *egv1a1.BackendTrafficPolicySpec) *policy.Model {
	return &policy.Model{Gateways: []*policy.Gateway{{
		Name:      types.NamespacedName{Namespace: "ns", Name: "gw"},
		Listeners: []*policy.Listener{listener("http", port, spec)},
	}}}
}

func listener(name string, port int32, spec *egv1a1.BackendTrafficPolicySpec) *policy.Listener {
	return &policy.Listener{Name: name, Port: port, Protocol: "HTTP", Routes: []*policy.Route{{Kind: "HTTPRoute",
		Name:      types.NamespacedName{Namespace: "ns", Name: "app"},
		Hostnames: []string{"app.example.com"},
		Rules: []*policy.Rule{{
			Spec:          &gwapiv1.HTTPRouteRule{},
			Backends:      []*policy.Backend{{Kind: "Backend", Weight: 1, Endpoints: []policy.Endpoint{{Address: "10.0.0.1", Port: 80}}}},
			Policy:        spec,
			PolicySources: []types.NamespacedName{{Namespace: "ns", Name: "p"}},
		}},
	}}}
}

func renderErr(t *testing.T, m *policy.Model) string {
	t.Helper()
	_, err := Render(m, Options{})
	if err == nil {
		t.Fatal("Render succeeded, want an error")
	}
	return err.Error()
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Host: "wasm"}, `host "wasm": allowed "golang" or "dynamic-module"`},
		{Options{AdminPort: 70000}, "admin port 70000: allowed 1-65535"},
		{Options{RateLimitServiceURL: "envoy-ratelimit:8081"}, `rate limit service URL "envoy-ratelimit:8081": allowed grpc://HOST:PORT`},
		{Options{RateLimitServiceURL: "grpc://rl"}, "allowed grpc://HOST:PORT"},
	} {
		_, err := Render(model(80, nil), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestRequiredAndInvalidValues(t *testing.T) {
	d := func(s string) *gwapiv1.Duration { v := gwapiv1.Duration(s); return &v }
	for _, tc := range []struct {
		name string
		spec egv1a1.BackendTrafficPolicySpec
		want string
	}{
		{"lb type", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{LoadBalancer: &egv1a1.LoadBalancer{}}},
			"spec.loadBalancer.type: is required: allowed BackendUtilization, ConsistentHash, LeastRequest, Random, RoundRobin"},
		{"lb unsupported type", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{LoadBalancer: &egv1a1.LoadBalancer{Type: egv1a1.DynamicModuleLoadBalancerType}}},
			`spec.loadBalancer.type: "DynamicModule": allowed BackendUtilization, ConsistentHash, LeastRequest, Random, RoundRobin`},
		{"consistent hash missing", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{LoadBalancer: &egv1a1.LoadBalancer{Type: egv1a1.ConsistentHashLoadBalancerType}}},
			"spec.loadBalancer.consistentHash: is required with type ConsistentHash"},
		{"hc type", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{HealthCheck: &egv1a1.HealthCheck{Active: &egv1a1.ActiveHealthCheck{}}}},
			"spec.healthCheck.active.type: is required: allowed HTTP, TCP, GRPC"},
		{"hc http path", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{HealthCheck: &egv1a1.HealthCheck{Active: &egv1a1.ActiveHealthCheck{Type: egv1a1.ActiveHealthCheckerTypeHTTP}}}},
			"spec.healthCheck.active.http.path: is required with type HTTP"},
		{"bad duration", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{Timeout: &egv1a1.Timeout{TCP: &egv1a1.TCPTimeout{ConnectTimeout: d("ten seconds")}}}},
			`spec.timeout.tcp.connectTimeout: "ten seconds": allowed a non-negative duration such as 250ms, 10s, 1h30m`},
		{"panic threshold", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{HealthCheck: &egv1a1.HealthCheck{PanicThreshold: new(uint32(101))}}},
			"spec.healthCheck.panicThreshold: 101: allowed 0-100"},
		{"proxy protocol", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{ProxyProtocol: &egv1a1.ProxyProtocol{Version: "V3"}}},
			`spec.proxyProtocol.version: "V3": allowed V1, V2`},
		{"retry trigger", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{Retry: &egv1a1.Retry{RetryOn: &egv1a1.RetryOn{Triggers: []egv1a1.TriggerEnum{"timeout"}}}}},
			`spec.retry.retryOn.triggers: "timeout": allowed 5xx, gateway-error`},
		{"rate limit empty", egv1a1.BackendTrafficPolicySpec{RateLimit: &egv1a1.RateLimitSpec{}},
			"spec.rateLimit: needs global or local rules"},
		{"fault empty", egv1a1.BackendTrafficPolicySpec{FaultInjection: &egv1a1.FaultInjection{}},
			"spec.faultInjection: needs delay or abort"},
		{"dns family", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{DNS: &egv1a1.DNS{LookupFamily: new(egv1a1.DNSLookupFamily("IPv5"))}}},
			`spec.dns.lookupFamily: "IPv5": allowed IPv4, IPv6, IPv4Preferred, IPv6Preferred, IPv4AndIPv6`},
		{"table size", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{LoadBalancer: &egv1a1.LoadBalancer{
			Type: egv1a1.ConsistentHashLoadBalancerType, ConsistentHash: &egv1a1.ConsistentHash{Type: egv1a1.SourceIPConsistentHashType, TableSize: new(uint64(1000))}}}},
			"spec.loadBalancer.consistentHash.tableSize: 1000: allowed a prime number from 2 to 5000011 (default 65537)"},
		{"backoff", egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{Retry: &egv1a1.Retry{PerRetry: &egv1a1.PerRetryPolicy{
			BackOff: &egv1a1.BackOffPolicy{BaseInterval: d("1s"), MaxInterval: d("100ms")}}}}},
			`spec.retry.perRetry.backOff.maxInterval: "100ms": allowed a duration no shorter than baseInterval`},
		{"upgrade connect", egv1a1.BackendTrafficPolicySpec{HTTPUpgrade: []*egv1a1.ProtocolUpgradeConfig{{Type: "websocket", Connect: &egv1a1.ConnectConfig{}}}},
			"spec.httpUpgrade[0].connect: allowed only with type CONNECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderErr(t, model(80, &tc.spec))
			if !strings.Contains(msg, "BackendTrafficPolicy/ns/p: "+tc.want) {
				t.Errorf("error:\n%s\nwant it to contain %q", msg, tc.want)
			}
		})
	}
}

func TestRouteRuleFieldsRejected(t *testing.T) {
	m := model(80, nil)
	r := m.Gateways[0].Listeners[0].Routes[0].Rules[0]
	r.Spec = &gwapiv1.HTTPRouteRule{
		Retry:              &gwapiv1.HTTPRouteRetry{},
		SessionPersistence: &gwapiv1.SessionPersistence{},
	}
	msg := renderErr(t, m)
	for _, f := range []string{"spec.rules[0].retry", "spec.rules[0].sessionPersistence"} {
		if !strings.Contains(msg, "HTTPRoute/ns/app: "+f+": ") {
			t.Errorf("error lacks %s:\n%s", f, msg)
		}
	}
	// Filters btp does not render, on the rule and on a backendRef.
	r.Spec = &gwapiv1.HTTPRouteRule{
		Filters: []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterExtensionRef}},
		BackendRefs: []gwapiv1.HTTPBackendRef{{Filters: []gwapiv1.HTTPRouteFilter{{
			Type: gwapiv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwapiv1.HTTPRequestMirrorFilter{}}}}},
	}
	msg = renderErr(t, m)
	for _, f := range []string{"spec.rules[0].filters[0].type", "spec.rules[0].backendRefs[0].filters[0].type"} {
		if !strings.Contains(msg, "HTTPRoute/ns/app: "+f+": ") {
			t.Errorf("error lacks %s:\n%s", f, msg)
		}
	}
}

// TestListenersShareAPort: Gateway listeners on one port become one Envoy
// listener whose route config holds every hostname.
func TestListenersShareAPort(t *testing.T) {
	m := model(80, nil)
	l2 := listener("other", 80, nil)
	l2.Routes[0].Hostnames = []string{"other.example.com"}
	m.Gateways[0].Listeners = append(m.Gateways[0].Listeners, l2)
	b, err := Render(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners, want 1", len(ls))
	}
	var hcm hcmv3.HttpConnectionManager
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var domains []string
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		domains = append(domains, vh.GetDomains()...)
	}
	if got := strings.Join(domains, ","); got != "app.example.com,other.example.com" {
		t.Errorf("domains %s", got)
	}
}

// TestSameRuleDifferentPolicies: one rule under two listeners with
// different effective policies gets two clusters, each route its own.
func TestSameRuleDifferentPolicies(t *testing.T) {
	m := model(80, nil)
	lb := &egv1a1.BackendTrafficPolicySpec{ClusterSettings: egv1a1.ClusterSettings{LoadBalancer: &egv1a1.LoadBalancer{Type: egv1a1.RandomLoadBalancerType}}}
	m.Gateways[0].Listeners = append(m.Gateways[0].Listeners, listener("alt", 81, lb), listener("same", 82, nil))
	b, err := Render(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range b.GetStaticResources().GetClusters() {
		names = append(names, c.GetName())
	}
	if got := strings.Join(names, ","); got != "httproute/ns/app/rule/0,httproute/ns/app/rule/0/2" {
		t.Fatalf("clusters %s", got)
	}
	want := map[string]string{"ns/gw/http": "httproute/ns/app/rule/0", "ns/gw/alt": "httproute/ns/app/rule/0/2", "ns/gw/same": "httproute/ns/app/rule/0"}
	for _, l := range b.GetStaticResources().GetListeners() {
		if got := routeCluster(t, l); got != want[l.GetName()] {
			t.Errorf("listener %s routes to %s, want %s", l.GetName(), got, want[l.GetName()])
		}
	}
}

func routeCluster(t *testing.T, l *listenerv3.Listener) string {
	t.Helper()
	var hcm hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	return hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster()
}

// TestSupportedPathsExist guards the allow-list against typos: every path
// in it must name a real field of the Envoy Gateway v1.9.1 spec type.
func TestSupportedPathsExist(t *testing.T) {
	root := reflect.TypeOf(egv1a1.BackendTrafficPolicySpec{})
	for p := range supported {
		if err := lookupPath(root, strings.Split(strings.ReplaceAll(p, "[]", ".[]"), ".")); err != "" {
			t.Errorf("supported path %q: %s", p, err)
		}
	}
	for p := range notImplemented {
		if err := lookupPath(root, strings.Split(p, ".")); err != "" {
			t.Errorf("notImplemented %q: %s", p, err)
		}
	}
}

func lookupPath(t reflect.Type, segs []string) string {
	for len(segs) > 0 {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		s := segs[0]
		segs = segs[1:]
		switch {
		case s == "[]":
			if t.Kind() != reflect.Slice {
				return "[] on a non-list"
			}
			t = t.Elem()
		case s == "*":
			if t.Kind() != reflect.Map {
				return "* on a non-map"
			}
			t = t.Elem()
		default:
			f, ok := jsonField(t, s)
			if !ok {
				return "no field " + s + " in " + t.String()
			}
			t = f
		}
	}
	return ""
}

func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag == "" && f.Anonymous {
			if ft, ok := jsonField(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

func TestBadRegexRejected(t *testing.T) {
	m := model(80, nil)
	re := gwapiv1.PathMatchRegularExpression
	hre := gwapiv1.HeaderMatchRegularExpression
	m.Gateways[0].Listeners[0].Routes[0].Rules[0].Spec = &gwapiv1.HTTPRouteRule{Matches: []gwapiv1.HTTPRouteMatch{{
		Path:    &gwapiv1.HTTPPathMatch{Type: &re, Value: new("/items/(")},
		Headers: []gwapiv1.HTTPHeaderMatch{{Type: &hre, Name: "x", Value: "a[b"}},
	}}}
	msg := renderErr(t, m)
	for _, want := range []string{
		`HTTPRoute/ns/app: spec.rules[0].matches[0].path.value: "/items/(": is not a valid RE2 regular expression`,
		`HTTPRoute/ns/app: spec.rules[0].matches[0].headers[0].value: "a[b": is not a valid RE2 regular expression`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestRateLimitServiceAddress: the rate limit cluster follows
// --ratelimit-url: a name resolves through DNS, an IP is static.
func TestRateLimitServiceAddress(t *testing.T) {
	spec := &egv1a1.BackendTrafficPolicySpec{RateLimit: &egv1a1.RateLimitSpec{Global: &egv1a1.GlobalRateLimit{
		Rules: []egv1a1.RateLimitRule{{Limit: egv1a1.RateLimitValue{Requests: 1, Unit: egv1a1.RateLimitUnitSecond}}},
	}}}
	for _, tc := range []struct {
		url, addr string
		dns       bool
	}{
		{"", "envoy-ratelimit.envoy-gateway-system.svc.cluster.local", true},
		{"grpc://127.0.0.1:8081", "127.0.0.1", false},
	} {
		b, err := Render(model(80, spec), Options{RateLimitServiceURL: tc.url})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range b.GetStaticResources().GetClusters() {
			if c.GetName() != rateLimitClusterName {
				continue
			}
			found = true
			sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
			if sa.GetAddress() != tc.addr || sa.GetPortValue() != 8081 {
				t.Errorf("%q: endpoint %s:%d", tc.url, sa.GetAddress(), sa.GetPortValue())
			}
			if isDNS := c.GetClusterType() != nil; isDNS != tc.dns {
				t.Errorf("%q: DNS cluster %v, want %v", tc.url, isDNS, tc.dns)
			}
		}
		if !found {
			t.Errorf("%q: no %s cluster", tc.url, rateLimitClusterName)
		}
	}
}
