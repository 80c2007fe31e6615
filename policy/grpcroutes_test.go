package policy

import (
	"encoding/json"
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// grpcBase is attachBase plus a GRPCRoute with the HTTPRoute's name, so a
// policy on one must never reach the other.
const grpcBase = attachBase + `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r1, labels: {app: grpc}}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [grpc.example.com]
  rules:
  - name: echo
    matches: [{method: {service: echo.Echo, method: Say}}]
    backendRefs: [{name: web, port: 80, weight: 3}]
  - backendRefs: [{name: web, port: 80}]
`

const (
	toGRPCRoute = "  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r1}]\n"
	toGRPCEcho  = "  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r1, sectionName: echo}]\n"
)

// effectiveByKind is effective() with the route kind in front.
func effectiveByKind(m *Model) string {
	var out []string
	for _, l := range m.Gateways[0].Listeners {
		for _, r := range l.Routes {
			for _, rule := range r.Rules {
				name := ""
				if rule.Name != nil {
					name = *rule.Name
				}
				var src []string
				for _, s := range rule.PolicySources {
					src = append(src, s.Name)
				}
				out = append(out, l.Name+"/"+r.Kind+"/"+name+"="+strings.Join(src, "+"))
			}
		}
	}
	return strings.Join(out, " ")
}

func TestGRPCRouteAttach(t *testing.T) {
	m, errs := load(t, grpcBase)
	wantErrors(t, errs)
	var g *Route
	for _, r := range m.Gateways[0].Listeners[0].Routes {
		if r.Kind == KindGRPCRoute {
			g = r
		}
	}
	if g == nil {
		t.Fatalf("GRPCRoute not attached to listener http: %s", effectiveByKind(m))
	}
	if len(g.Hostnames) != 1 || g.Hostnames[0] != "grpc.example.com" || len(g.Rules) != 2 {
		t.Fatalf("GRPCRoute attached as %+v", g)
	}
	r0 := g.Rules[0]
	if r0.Spec != nil || r0.GRPC == nil || r0.GRPC.Matches[0].Method.Service == nil || *r0.GRPC.Matches[0].Method.Service != "echo.Echo" {
		t.Errorf("rule 0 keeps its GRPCRouteRule: Spec %v GRPC %+v", r0.Spec, r0.GRPC)
	}
	if len(r0.Backends) != 1 || r0.Backends[0].Weight != 3 || r0.Backends[0].Endpoints[0].Address != "10.0.0.5" {
		t.Errorf("rule 0 backends %+v", r0.Backends)
	}
	// The CRD default for method.type is Exact.
	if mt := r0.GRPC.Matches[0].Method.Type; mt == nil || *mt != gwapiv1.GRPCMethodMatchExact {
		t.Errorf("method.type %v, want the CRD default Exact", mt)
	}
	if got := len(m.Gateways[0].Listeners[1].Routes); got != 1 {
		t.Errorf("listener admin has %d routes, want 1 (the HTTPRoute; the GRPCRoute names sectionName http)", got)
	}
}

func TestGRPCRoutePolicies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies string
		want     string
	}{
		{"route policy reaches only the GRPCRoute", btp("p", "", toGRPCRoute, "  retry: {}\n"),
			"http/HTTPRoute/a= http/HTTPRoute/b= http/HTTPRoute/= http/GRPCRoute/echo=p http/GRPCRoute/=p admin/HTTPRoute/a= admin/HTTPRoute/b= admin/HTTPRoute/="},
		{"rule policy over route policy", btp("p", "2024-01-01T00:00:00Z", toGRPCRoute, "  retry: {}\n") + btp("q", "2024-01-02T00:00:00Z", toGRPCEcho, "  retry: {}\n"),
			"http/HTTPRoute/a= http/HTTPRoute/b= http/HTTPRoute/= http/GRPCRoute/echo=q http/GRPCRoute/=p admin/HTTPRoute/a= admin/HTTPRoute/b= admin/HTTPRoute/="},
		{"same name, other kind: both claim their own route", btp("p", "2024-01-01T00:00:00Z", toGRPCRoute, "  retry: {}\n") + btp("h", "2024-01-02T00:00:00Z", toRoute, "  retry: {}\n"),
			"http/HTTPRoute/a=h http/HTTPRoute/b=h http/HTTPRoute/=h http/GRPCRoute/echo=p http/GRPCRoute/=p admin/HTTPRoute/a=h admin/HTTPRoute/b=h admin/HTTPRoute/=h"},
		{"gateway policy merged under the route policy", btp("g", "2024-01-01T00:00:00Z", toGateway, "  retry: {}\n") + btp("p", "2024-01-02T00:00:00Z", toGRPCRoute, "  mergeType: StrategicMerge\n  retry: {}\n"),
			"http/HTTPRoute/a=g http/HTTPRoute/b=g http/HTTPRoute/=g http/GRPCRoute/echo=p+g http/GRPCRoute/=p+g admin/HTTPRoute/a=g admin/HTTPRoute/b=g admin/HTTPRoute/=g"},
		{"selector by kind", btp("s", "", "  targetSelectors: [{kind: GRPCRoute, matchLabels: {app: grpc}}]\n", "  retry: {}\n"),
			"http/HTTPRoute/a= http/HTTPRoute/b= http/HTTPRoute/= http/GRPCRoute/echo=s http/GRPCRoute/=s admin/HTTPRoute/a= admin/HTTPRoute/b= admin/HTTPRoute/="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, grpcBase+tc.policies)
			wantErrors(t, errs)
			if got := effectiveByKind(m); got != tc.want {
				t.Errorf("effective:\n got %s\nwant %s", got, tc.want)
			}
			for _, p := range m.Policies {
				doc, _ := StatusDocument(p)
				if y := statusYAML(t, doc); !strings.Contains(y, `"reason":"Accepted"`) || strings.Contains(y, "Conflicted") {
					t.Errorf("%s not Accepted alone:\n%s", p.Name, y)
				}
			}
		})
	}
}

func TestGRPCRoutePolicyStatus(t *testing.T) {
	in := grpcBase + btp("p", "2024-01-01T00:00:00Z", toGRPCRoute, "  retry: {}\n") +
		btp("q", "2024-01-02T00:00:00Z", toGRPCRoute, "  retry: {}\n") +
		btp("r", "2024-01-03T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r1, sectionName: nope}]\n", "  retry: {}\n") +
		btp("s", "2024-01-04T00:00:00Z", toGRPCEcho, "  retry: {}\n")
	m, _ := load(t, in)
	want := map[string][]string{
		"p": {`"reason":"Accepted"`, "This policy is being overridden by other backendTrafficPolicy for these route rules: [echo]"},
		"q": {"Unable to target GRPCRoute r1, another BackendTrafficPolicy has already attached to it"},
		"r": {"No section name nope found for GRPCRoute default/r1"},
		"s": {`"reason":"Accepted"`},
	}
	for _, p := range m.Policies {
		doc, _ := StatusDocument(p)
		y := statusYAML(t, doc)
		for _, w := range want[p.Name] {
			if !strings.Contains(y, w) {
				t.Errorf("%s status lacks %q:\n%s", p.Name, w, y)
			}
		}
	}
}

func TestGRPCRouteErrors(t *testing.T) {
	route := gatewayYAML + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g}\nspec:\n  parentRefs: [{name: gw}]\n"
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"method type without service or method", "  rules: [{matches: [{method: {type: Exact}}]}]\n",
			[]string{`GRPCRoute/default/g: spec.rules[0].matches[0].method: One or both of 'service' or 'method' must be specified`}},
		{"bad exact service", "  rules: [{matches: [{method: {service: 'a/b'}}]}]\n",
			[]string{`spec.rules[0].matches[0].method: service must only contain valid characters`}},
		{"bad exact method", "  rules: [{matches: [{method: {method: '1x'}}]}]\n",
			[]string{`spec.rules[0].matches[0].method: method must only contain valid characters`}},
		{"regex service is not checked as a name", "  rules: [{matches: [{method: {type: RegularExpression, service: 'a.*'}}]}]\n", nil},
		{"filter without its field", "  rules: [{filters: [{type: RequestMirror}]}]\n",
			[]string{`spec.rules[0].filters[0]: filter.requestMirror must be specified for RequestMirror filter.type`}},
		{"same parent twice", "  parentRefs: [{name: gw}, {name: gw}]\n",
			[]string{`spec.parentRefs: sectionName or port must be unique`}},
		{"missing service", "  rules: [{backendRefs: [{name: nope, port: 9000}]}]\n",
			[]string{`GRPCRoute/default/g: spec.rules[0].backendRefs[0].name: Service "default/nope" not found`}},
		{"duplicate rule names", "  rules: [{name: a}, {name: a}]\n",
			[]string{`spec.rules[1].name: duplicate rule name "a": also spec.rules[0]`}},
		{"listener admits HTTPRoute only", "", []string{`GRPCRoute/default/g: spec.parentRefs[0]: not attached to Gateway default/gw: listener "http" does not allow GRPCRoute (allowedRoutes.kinds)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := route + tc.spec
			if strings.HasPrefix(tc.spec, "  parentRefs") {
				in = strings.Replace(route, "  parentRefs: [{name: gw}]\n", tc.spec, 1)
			}
			if tc.spec == "" {
				in = strings.Replace(in, "protocol: HTTP}", "protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}", 1)
			}
			_, errs := load(t, in)
			wantErrors(t, errs, tc.want...)
		})
	}
}

func statusYAML(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.Marshal(doc) // one line: messages stay whole
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
