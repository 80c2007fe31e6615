package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const gatewayYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
`

const btpHead = `
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p1}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
`

func load(t *testing.T, yaml string) (*Model, ErrorList) {
	t.Helper()
	m, err := Load([]string{"-"}, strings.NewReader(yaml))
	if m == nil {
		t.Fatalf("Load returned no model (err %v)", err)
	}
	if err == nil {
		return m, nil
	}
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("Load error is %T, want ErrorList: %v", err, err)
	}
	return m, l
}

// wantErrors checks that every want substring appears in some error line
// and that there are exactly len(want) errors.
func wantErrors(t *testing.T, got ErrorList, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(got), len(want), got)
	}
	for _, w := range want {
		found := false
		for _, e := range got {
			if strings.Contains(e.Error(), w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error contains %q; got:\n%v", w, got)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"version not served", "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: HTTPRoute\nmetadata: {name: r}\n",
			[]string{`-: document 1 (HTTPRoute "r"): apiVersion/kind: apiVersion "gateway.networking.k8s.io/v1alpha2" is not served for HTTPRoute: allowed gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1`}},
		{"kind not in the group", "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTraficPolicy\nmetadata: {name: p}\n",
			[]string{`apiVersion/kind: unknown kind "BackendTraficPolicy" in group gateway.envoyproxy.io: allowed Backend, BackendTrafficPolicy, ClientTrafficPolicy,`}},
		{"no kind", "apiVersion: v1\nmetadata: {name: s}\n", []string{"apiVersion and kind are required"}},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", []string{"metadata.name: required"}},
		{"yaml syntax", "apiVersion: v1\nkind: [\n", []string{"-: document 1:"}},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: ConfigMap\nmetadata: {name: c}\n", []string{`-: document 1: yaml: unmarshal errors:`}},
		{"unknown field", gatewayYAML + btpHead + "  loadBalancr: {type: Random}\n",
			[]string{`-: BackendTrafficPolicy/default/p1: spec.loadBalancr: unknown field`}},
		{"wrong type", gatewayYAML + btpHead + "  retry: {numRetries: lots}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.retry.numRetries: wrong type: got string, want integer`}},
		{"duplicate resource", gatewayYAML + "---" + gatewayYAML,
			[]string{`Gateway/default/gw: metadata.name: duplicate Gateway "default/gw": already defined in -`}},
		{"enum", gatewayYAML + btpHead + "  loadBalancer: {type: Foo}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.loadBalancer.type: unsupported value "Foo": allowed BackendUtilization, ConsistentHash, DynamicModule, LeastRequest, Random, RoundRobin`}},
		{"enum outside envoy-btp", gatewayYAML + btpHead + "  loadBalancer: {type: DynamicModule}\n",
			[]string{`spec.loadBalancer.type: unsupported value "DynamicModule": allowed BackendUtilization, ConsistentHash, LeastRequest, Random, RoundRobin`}},
		{"minimum", gatewayYAML + btpHead + "  retry: {numRetries: -1}\n",
			[]string{`spec.retry.numRetries: invalid value -1: should be greater than or equal to 0`}},
		{"abort status range", gatewayYAML + btpHead + "  faultInjection: {abort: {httpStatus: 700}}\n",
			[]string{`spec.faultInjection.abort.httpStatus: invalid value 700: should be less than or equal to 600`}},
		{"percentage", gatewayYAML + btpHead + "  faultInjection: {delay: {fixedDelay: 1s, percentage: 101}}\n",
			[]string{`spec.faultInjection.delay.percentage: invalid value 101: a percentage, allowed 0..100`}},
		{"duration pattern", gatewayYAML + btpHead + "  timeout: {http: {requestTimeout: soon}}\n",
			[]string{`spec.timeout.http.requestTimeout: invalid value "soon": should match`}},
		{"consistentHash config required", gatewayYAML + btpHead + "  loadBalancer: {type: ConsistentHash}\n",
			[]string{`spec.loadBalancer: If LoadBalancer type is consistentHash, consistentHash field needs to be set.`}},
		{"consistentHash header required", gatewayYAML + btpHead + "  loadBalancer: {type: ConsistentHash, consistentHash: {type: Header}}\n",
			[]string{`spec.loadBalancer.consistentHash: If consistent hash type is header, the header field must be set.`}},
		{"slowStart with Random", gatewayYAML + btpHead + "  loadBalancer: {type: Random, slowStart: {window: 5s}}\n",
			[]string{`Currently SlowStart is only supported for RoundRobin`}},
		{"mergeType on a Gateway target", gatewayYAML + btpHead + "  mergeType: JSONMerge\n",
			[]string{`BackendTrafficPolicy/default/p1: spec: mergeType can only be used with xRoute targets`}},
		{"mergeType enum", gatewayYAML + btpHead + "  mergeType: Replace\n",
			[]string{`mergeType can only be used with xRoute targets`, `spec.mergeType: Replace is not a valid MergeType`}},
		{"no target", "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p1}\nspec: {retry: {}}\n",
			[]string{`spec: either targetRef or targetRefs must be used`}},
		{"target group", gatewayYAML + "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p1}\nspec:\n  targetRefs: [{group: apps, kind: Gateway, name: gw}]\n",
			[]string{`this policy can only have a targetRefs[*].group of gateway.networking.k8s.io`}},
		{"fault needs delay or abort", gatewayYAML + btpHead + "  faultInjection: {}\n",
			[]string{`spec.faultInjection: Delay and abort faults are set at least one.`}},
		{"abort both statuses", gatewayYAML + btpHead + "  faultInjection: {abort: {httpStatus: 503, grpcStatus: 14}}\n",
			[]string{`httpStatus and grpcStatus cannot be simultaneously defined.`}},
		{"health check type needs http", gatewayYAML + btpHead + "  healthCheck: {active: {type: HTTP}}\n",
			[]string{`spec.healthCheck.active: If Health Checker type is HTTP, http field needs to be set.`}},
		{"requestBuffer with httpUpgrade", gatewayYAML + btpHead + "  requestBuffer: {limit: 1Mi}\n  httpUpgrade: [{type: websocket}]\n",
			[]string{`spec: requestBuffer cannot be used together with httpUpgrade`}},
		{"override status code range", gatewayYAML + btpHead + "  responseOverride:\n  - match: {statusCodes: [{value: 700}]}\n    response: {statusCode: 99, body: {inline: x}}\n",
			[]string{`spec.responseOverride[0].match.statusCodes[0].value: invalid value 700: an HTTP status code, allowed 100..599`,
				`spec.responseOverride[0].response.statusCode: invalid value 99: an HTTP status code, allowed 100..599`}},
		{"override range order", gatewayYAML + btpHead + "  responseOverride:\n  - match: {statusCodes: [{type: Range, range: {start: 500, end: 400}}]}\n    response: {body: {inline: x}}\n",
			[]string{`spec.responseOverride[0].match.statusCodes[0].range: end must be greater than start`}},
		{"override response or redirect", gatewayYAML + btpHead + "  responseOverride:\n  - match: {statusCodes: [{value: 500}]}\n",
			[]string{`spec.responseOverride[0]: exactly one of response or redirect must be specified`}},
		{"local rate limit selector", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{}], limit: {requests: 1, unit: Second}}]}}\n",
			[]string{`spec.rateLimit.local.rules[0].clientSelectors[0]: at least one of headers, methods, path, sourceCIDR or queryParams must be specified`}},
		{"rate limit unit", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{limit: {requests: 1, unit: Sec}}]}}\n",
			[]string{`spec.rateLimit.local.rules[0].limit.unit: unsupported value "Sec": allowed Day, Hour, Minute, Month, Second, Week, Year`}},
		{"rate limit requests missing", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{limit: {unit: Second}}]}}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.rateLimit.local.rules[0].limit.requests: required`}},
		{"rate limit requests negative, reported once", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{limit: {requests: -3, unit: Second}}]}}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.rateLimit.local.rules[0].limit.requests: invalid value -3: should be greater than or equal to 0`}},
		{"rate limit requests null", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{limit: {requests: null, unit: Second}}]}}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.rateLimit.local.rules[0].limit.requests: required`}},
		{"rate limit header name", gatewayYAML + btpHead + "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{headers: [{name: X-Ok, value: a}, {name: \":authority\", value: b}, {name: \"x user\", type: Distinct}]}], limit: {requests: 1, unit: Second}}]}}\n",
			[]string{`BackendTrafficPolicy/default/p1: spec.rateLimit.local.rules[0].clientSelectors[0].headers[2].name: "x user" is not a header name (no request can carry it): allowed letters, digits and !#$%&'*+-.^_` + "`" + `|~ (an RFC 9110 token)`}},
		{"global rate limit header name", gatewayYAML + btpHead + "  rateLimit: {type: Global, global: {rules: [{clientSelectors: [{headers: [{name: \"x\\0id\", type: Distinct}]}], limit: {requests: 1, unit: Second}}]}}\n",
			[]string{`spec.rateLimit.global.rules[0].clientSelectors[0].headers[0].name: "x\x00id" is not a header name`}},
		{"listener protocol enum-free string", gatewayYAML + "  - {name: tls, port: 8443, protocol: SCTP}\n",
			[]string{`Gateway/default/gw: spec.listeners[1].protocol: unsupported value "SCTP": allowed HTTP, HTTPS, TLS, TCP, UDP`}},
		{"listener port range", strings.Replace(gatewayYAML, "8080", "70000", 1),
			[]string{`spec.listeners[0].port: invalid value 70000: should be less than or equal to 65535`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, tc.in)
			wantErrors(t, errs, tc.want...)
		})
	}
}

func TestReadPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gw.yaml", gatewayYAML)
	write("sub/cm.yml", "# a comment-only document\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns1}\ndata: {a: b}\n")
	write("notes.txt", "not yaml at all: [")
	r, err := Read([]string{dir, "-"}, strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Gateways) != 1 || len(r.ConfigMaps) != 2 {
		t.Fatalf("read %d gateways, %d configmaps; want 1, 2", len(r.Gateways), len(r.ConfigMaps))
	}
	if got := r.File("ConfigMap", "ns1", "c"); got != filepath.Join(dir, "sub/cm.yml") {
		t.Errorf("file of ConfigMap ns1/c = %q", got)
	}
	if got := r.ConfigMaps[1].Namespace; got != "default" {
		t.Errorf("missing namespace became %q, want default", got)
	}

	_, err = Read([]string{filepath.Join(dir, "missing.yaml")}, nil)
	wantErrors(t, err.(ErrorList), "missing.yaml: no such file or directory")
	_, err = Read(nil, nil)
	wantErrors(t, err.(ErrorList), "no input")
	empty := t.TempDir()
	_, err = Read([]string{empty}, nil)
	wantErrors(t, err.(ErrorList), "directory holds no *.yaml")
}

func TestDefaultsApplied(t *testing.T) {
	m, errs := load(t, gatewayYAML+btpHead+"  retry: {}\n  faultInjection: {delay: {fixedDelay: 1s}}\n")
	wantErrors(t, errs)
	p := m.Policies[0]
	if p.Spec.Retry.NumRetries == nil || *p.Spec.Retry.NumRetries != 2 {
		t.Errorf("retry.numRetries = %v, want the CRD default 2", p.Spec.Retry.NumRetries)
	}
	if p.Spec.FaultInjection.Delay.Percentage == nil || *p.Spec.FaultInjection.Delay.Percentage != 100 {
		t.Errorf("faultInjection.delay.percentage = %v, want the CRD default 100", p.Spec.FaultInjection.Delay.Percentage)
	}
}

// The API server drops a null given for a field that is not nullable
// before defaulting and validating (Envoy Gateway's
// backendtrafficpolicy-compressor-basic.disable writes "gzip: null").
func TestNullsPruned(t *testing.T) {
	m, errs := load(t, gatewayYAML+btpHead+"  compressor: [{type: Gzip, gzip: null}]\n  retry: {numRetries: null}\n")
	wantErrors(t, errs)
	p := m.Policies[0]
	if p.Spec.Compressor[0].Gzip != nil {
		t.Errorf("compressor[0].gzip = %v, want absent", p.Spec.Compressor[0].Gzip)
	}
	if p.Spec.Retry.NumRetries == nil || *p.Spec.Retry.NumRetries != 2 {
		t.Errorf("retry.numRetries = %v, want the CRD default 2 in place of null", p.Spec.Retry.NumRetries)
	}
}

func TestHTTPRouteRules(t *testing.T) {
	route := gatewayYAML + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n"
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"relative path", "  rules: [{matches: [{path: {type: PathPrefix, value: api}}]}]\n",
			[]string{`HTTPRoute/default/r: spec.rules[0].matches[0].path: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']`}},
		{"dot segment", "  rules: [{matches: [{path: {type: Exact, value: /a/../b}}]}]\n",
			[]string{`spec.rules[0].matches[0].path: must not contain '/../'`}},
		{"regex path is not checked as a path", "  rules: [{matches: [{path: {type: RegularExpression, value: 'x//y'}}]}]\n", nil},
		{"same parent twice", "  parentRefs: [{name: gw}, {name: gw}]\n",
			[]string{`spec.parentRefs: sectionName or port must be unique when parentRefs includes 2 or more references to the same parent`}},
		{"filter without its field", "  rules: [{filters: [{type: RequestHeaderModifier}]}]\n",
			[]string{`spec.rules[0].filters[0]: filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type`}},
		{"filter repeated", "  rules: [{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {remove: [a]}}, {type: RequestHeaderModifier, requestHeaderModifier: {remove: [b]}}]}]\n",
			[]string{`spec.rules[0].filters: RequestHeaderModifier filter cannot be repeated`}},
		{"redirect with backends", "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}], backendRefs: [{name: web, port: 80}]}]\n",
			[]string{`spec.rules[0]: RequestRedirect filter must not be used together with backendRefs`, `Service "default/web" not found`}},
		{"timeouts", "  rules: [{timeouts: {request: 1s, backendRequest: 2s}}]\n",
			[]string{`spec.rules[0].timeouts: backendRequest timeout cannot be longer than request timeout`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := route + tc.spec
			if strings.HasPrefix(tc.spec, "  parentRefs") {
				in = strings.Replace(route, "  parentRefs: [{name: gw}]\n", tc.spec, 1)
			}
			_, errs := load(t, in)
			wantErrors(t, errs, tc.want...)
		})
	}
}

func TestUnknownFieldListsAllowed(t *testing.T) {
	in := "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules: [{matchs: []}]\n" + btpHead + "  loadBalancr: {}\n  retry: {numRetry: 1}\n"
	_, errs := load(t, in)
	wantErrors(t, errs,
		`HTTPRoute/default/r: spec.rules[0].matchs: unknown field: allowed backendRefs, filters, matches, name, retry, sessionPersistence, timeouts`,
		`BackendTrafficPolicy/default/p1: spec.loadBalancr: unknown field: allowed `+strings.Join(btpSpecFields, ", "),
		`spec.retry.numRetry: unknown field: allowed numAttemptsPerPriority, numRetries, perRetry, retryOn`,
		`spec.targetRefs[0].name: Gateway "default/gw" not found`)
}

func TestListTypes(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - matches: [{headers: [{name: x-a, value: "1"}, {name: x-a, value: "2"}]}]
` + btpHead + `  responseOverride:
  - match: {statusCodes: [{value: 500}]}
    response: {body: {inline: x}, header: {set: [{name: h, value: a}, {name: h, value: b}]}}
`
	_, errs := load(t, in)
	wantErrors(t, errs,
		`HTTPRoute/default/r: spec.rules[0].matches[0].headers[1]: duplicate entry (name "x-a"): already at spec.rules[0].matches[0].headers[0], entries must be unique`,
		`BackendTrafficPolicy/default/p1: spec.responseOverride[0].response.header.set[1]: duplicate entry (name "h")`,
		`Gateway "default/gw" not found`)
}
