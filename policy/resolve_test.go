package policy

import (
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const routeBase = gatewayYAML + `
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.0.0.5, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, ports: [{port: 8080}]}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ext}
spec:
  endpoints: [{fqdn: {hostname: api.internal, port: 9000}}, {ip: {address: 10.1.1.1, port: 9001}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r1}
spec:
`

func TestResolveReferenceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, route string
		want        []string
	}{
		{"gateway missing", "  parentRefs: [{name: nope}]\n",
			[]string{`HTTPRoute/default/r1: spec.parentRefs[0].name: Gateway "default/nope" not found: allowed default/gw`}},
		{"listener missing", "  parentRefs: [{name: gw, sectionName: https}]\n",
			[]string{`spec.parentRefs[0].sectionName: listener "https" not found on Gateway default/gw: allowed http`}},
		{"port missing", "  parentRefs: [{name: gw, port: 9999}]\n",
			[]string{`spec.parentRefs[0].port: no listener of Gateway default/gw has port 9999`}},
		{"parent kind", "  parentRefs: [{name: gw, kind: Service, group: \"\"}]\n",
			[]string{`spec.parentRefs[0].group: unsupported value ""`}},
		{"service missing", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: db, port: 5432}]}]\n",
			[]string{`spec.rules[0].backendRefs[0].name: Service "default/db" not found: allowed default/headless, default/web`}},
		{"service port missing", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: web, port: 81}]}]\n",
			[]string{`spec.rules[0].backendRefs[0].port: port 81 not found on Service default/web: allowed 80`}},
		{"service port required", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: web}]}]\n",
			[]string{`spec.rules[0].backendRefs[0].port: required for a Service backend`}},
		{"backend missing", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: nope}]}]\n",
			[]string{`Backend "default/nope" not found: allowed default/ext`}},
		{"backend port missing", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: ext, port: 1}]}]\n",
			[]string{`port 1 not found on Backend default/ext: allowed 9000, 9001`}},
		{"backend kind", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{group: apps, kind: Deployment, name: x, port: 1}]}]\n",
			[]string{`spec.rules[0].backendRefs[0].kind: unsupported backend "apps/Deployment"`}},
		{"cross namespace backend", "  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: web, namespace: other, port: 80}]}]\n",
			[]string{`spec.rules[0].backendRefs[0].namespace: Service other/web in another namespace needs a ReferenceGrant in namespace other from HTTPRoute in namespace default: none admits it`}},
		{"hostnames do not intersect", "  parentRefs: [{name: gw}]\n  hostnames: [a.example.com]\n",
			nil}, // listener http has no hostname: any host attaches
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, routeBase+tc.route)
			wantErrors(t, errs, tc.want...)
		})
	}
}

func TestResolveGatewayErrors(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: a, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {}}}}
  - {name: a, port: 81, protocol: HTTP}
  - {name: t, port: 443, protocol: TLS, tls: {mode: Terminate, certificateRefs: [{name: c}]}}
  - {name: u, port: 444, protocol: SCTP, tls: {mode: Passthrough}}
`
	_, errs := load(t, in)
	wantErrors(t, errs,
		`spec.listeners[0].allowedRoutes.namespaces.from: unsupported value "Selector"`,
		`spec.listeners[1]: duplicate entry (name "a"): already at spec.listeners[0], entries must be unique`,
		`spec.listeners[2].tls.certificateRefs[0].name: Secret "default/c" not found`,
		`spec.listeners[3].protocol: unsupported value "SCTP": allowed HTTP`,
		`spec.listeners[3].tls: set on a SCTP listener: only HTTPS and TLS listeners terminate TLS`)
}

func TestResolveEndpoints(t *testing.T) {
	m, errs := load(t, routeBase+`  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
    - {name: web, port: 80}
    - {name: headless, port: 8080, weight: 3}
    - {group: gateway.envoyproxy.io, kind: Backend, name: ext}
    - {group: gateway.envoyproxy.io, kind: Backend, name: ext, port: 9001, weight: 0}
`)
	wantErrors(t, errs)
	rule := m.Gateways[0].Listeners[0].Routes[0].Rules[0]
	got := []Backend{}
	for _, b := range rule.Backends {
		got = append(got, *b)
	}
	want := []Backend{
		{Kind: "Service", Name: nsn("web"), Port: 80, Weight: 1, Endpoints: []Endpoint{{Address: "10.0.0.5", Port: 80}}, serviceIP: []Endpoint{{Address: "10.0.0.5", Port: 80}}},
		{Kind: "Service", Name: nsn("headless"), Port: 8080, Weight: 3, Endpoints: []Endpoint{{Address: "headless.default.svc.cluster.local", Port: 8080, Hostname: true}}},
		{Kind: "Backend", Name: nsn("ext"), Weight: 1, Endpoints: []Endpoint{{Address: "api.internal", Port: 9000, Hostname: true}, {Address: "10.1.1.1", Port: 9001}}},
		{Kind: "Backend", Name: nsn("ext"), Port: 9001, Weight: 0, Endpoints: []Endpoint{{Address: "10.1.1.1", Port: 9001}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backends:\n got %+v\nwant %+v", got, want)
	}
}

func TestIntersectHostnames(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		listener *string
		route    []gwapiv1.Hostname
		want     []string
		ok       bool
	}{
		{nil, nil, []string{}, true},
		{nil, []gwapiv1.Hostname{"a.com"}, []string{"a.com"}, true},
		{s("a.com"), nil, []string{"a.com"}, true},
		{s("a.com"), []gwapiv1.Hostname{"a.com", "b.com"}, []string{"a.com"}, true},
		{s("*.example.com"), []gwapiv1.Hostname{"foo.example.com", "x.y.example.com", "example.com"}, []string{"foo.example.com", "x.y.example.com"}, true},
		{s("foo.example.com"), []gwapiv1.Hostname{"*.example.com"}, []string{"foo.example.com"}, true},
		{s("*.example.com"), []gwapiv1.Hostname{"*.a.example.com", "*.example.com"}, []string{"*.a.example.com", "*.example.com"}, true},
		{s("*.a.example.com"), []gwapiv1.Hostname{"*.example.com"}, []string{"*.a.example.com"}, true},
		{s("a.com"), []gwapiv1.Hostname{"b.com"}, nil, false},
	} {
		got, ok := intersectHostnames(tc.listener, tc.route)
		if ok != tc.ok || (len(got) > 0 || len(tc.want) > 0) && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("intersect(%v, %v) = %v, %v; want %v, %v", tc.listener, tc.route, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRouteNotAttached(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: a.com}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r1, namespace: other}
spec:
  parentRefs: [{name: gw, namespace: default}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r2}
spec:
  parentRefs: [{name: gw}]
  hostnames: [b.com]
`
	m, errs := load(t, in)
	wantErrors(t, errs,
		`HTTPRoute/other/r1: spec.parentRefs[0]: not attached to Gateway default/gw: listener "http" does not allow routes from namespace "other"`,
		`HTTPRoute/default/r2: spec.parentRefs[0]: not attached to Gateway default/gw: no route hostname matches listener "http" hostname "a.com"`)
	if n := len(m.Gateways[0].Listeners[0].Routes); n != 0 {
		t.Errorf("%d routes attached, want 0", n)
	}
}

func nsn(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "default", Name: name}
}

func TestGatewayUnsupportedAndDuplicates(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  infrastructure: {labels: {a: b}}
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: x.com}
  - {name: b, port: 80, protocol: HTTP, hostname: x.com}
  - {name: c, port: 80, protocol: HTTP, hostname: y.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r1}
spec:
  parentRefs: [{name: gw, sectionName: c}, {name: gw, port: 80}]
`
	m, errs := load(t, in)
	wantErrors(t, errs,
		`Gateway/default/gw: spec.infrastructure: not supported`,
		`Gateway/default/gw: spec.listeners[1]: same port 80, protocol and hostname "x.com" as spec.listeners[0]`)
	var attached []string
	for _, l := range m.Gateways[0].Listeners {
		for range l.Routes {
			attached = append(attached, l.Name)
		}
	}
	// parentRef 0 attaches to c; parentRef 1 (port 80) to a and b, and not
	// to c a second time.
	if got := fmt.Sprint(attached); got != "[a b c]" {
		t.Errorf("attached to listeners %s, want [a b c]", got)
	}
}

func TestResolveMoreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"backend features btp cannot render", gatewayYAML + `
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b}
spec:
  appProtocols: [gateway.envoyproxy.io/h2c]
  endpoints: [{unix: {path: /run/x.sock}}]
`, []string{`Backend/default/b: spec.endpoints[0].unix: not supported: allowed ip, fqdn`, `Backend/default/b: spec.appProtocols: not supported`}},
		{"gateway fields", `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  addresses: [{type: IPAddress, value: 10.0.0.1}]
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
`, []string{`Gateway/default/gw: spec.addresses: not supported`, `spec.listeners[0].allowedRoutes.kinds[0]: unsupported value "TCPRoute" on a HTTP listener: allowed HTTPRoute, GRPCRoute`}},
		{"duplicate rule names and default gateways", gatewayYAML + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  useDefaultGateways: All
  parentRefs: [{name: gw}]
  rules: [{name: a}, {name: a}]
`, []string{`HTTPRoute/default/r: spec.useDefaultGateways: not supported`, `spec.rules[1].name: duplicate rule name "a": also spec.rules[0]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, tc.in)
			wantErrors(t, errs, tc.want...)
		})
	}
}

func TestExternalNameService(t *testing.T) {
	m, errs := load(t, gatewayYAML+`
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: api.example.org, ports: [{port: 443}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: ext, port: 443}]}]
`)
	wantErrors(t, errs)
	got := m.Gateways[0].Listeners[0].Routes[0].Rules[0].Backends[0].Endpoints
	want := []Endpoint{{Address: "api.example.org", Port: 443, Hostname: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints %+v, want %+v", got, want)
	}
}
