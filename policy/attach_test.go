package policy

import (
	"fmt"
	"strings"
	"testing"
)

const attachBase = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, labels: {tier: edge}}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: admin, port: 81, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.0.0.5, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r1, labels: {app: shop, env: prod}}
spec:
  parentRefs: [{name: gw}]
  rules:
  - {name: a, backendRefs: [{name: web, port: 80}]}
  - {name: b, backendRefs: [{name: web, port: 80}]}
  - {backendRefs: [{name: web, port: 80}]}
`

// btp builds a policy document; ts orders policies by age.
func btp(name, ts, targets, rest string) string {
	meta := fmt.Sprintf("{name: %s}", name)
	if ts != "" {
		meta = fmt.Sprintf("{name: %s, creationTimestamp: %q}", name, ts)
	}
	return fmt.Sprintf("\n---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: %s\nspec:\n%s%s", meta, targets, rest)
}

const (
	toGateway  = "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n"
	toListener = "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: admin}]\n"
	toRoute    = "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r1}]\n"
	toRuleA    = "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r1, sectionName: a}]\n"
)

// effective lists "listener/rule=sources" for every attached rule.
func effective(m *Model) string {
	var out []string
	for _, l := range m.Gateways[0].Listeners {
		for _, r := range l.Routes {
			for _, rule := range r.Rules {
				name := fmt.Sprint(rule.Index)
				if rule.Name != nil {
					name = *rule.Name
				}
				var src []string
				for _, s := range rule.PolicySources {
					src = append(src, s.Name)
				}
				out = append(out, l.Name+"/"+name+"="+strings.Join(src, "+"))
			}
		}
	}
	return strings.Join(out, " ")
}

func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies string
		want     string
	}{
		{"gateway only", btp("g", "2024-01-01T00:00:00Z", toGateway, "  retry: {}\n"),
			"http/a=g http/b=g http/2=g admin/a=g admin/b=g admin/2=g"},
		{"listener over gateway", btp("g", "2024-01-01T00:00:00Z", toGateway, "  retry: {}\n") + btp("l", "2024-01-02T00:00:00Z", toListener, "  retry: {}\n"),
			"http/a=g http/b=g http/2=g admin/a=l admin/b=l admin/2=l"},
		{"route over listener", btp("l", "2024-01-01T00:00:00Z", toListener, "  retry: {}\n") + btp("r", "2024-01-02T00:00:00Z", toRoute, "  retry: {}\n"),
			"http/a=r http/b=r http/2=r admin/a=r admin/b=r admin/2=r"},
		{"rule over route", btp("r", "2024-01-01T00:00:00Z", toRoute, "  retry: {}\n") + btp("ra", "2024-01-02T00:00:00Z", toRuleA, "  retry: {}\n"),
			"http/a=ra http/b=r http/2=r admin/a=ra admin/b=r admin/2=r"},
		{"rule policy merges into listener, then gateway", btp("g", "2024-01-01T00:00:00Z", toGateway, "  retry: {}\n") +
			btp("l", "2024-01-01T00:00:00Z", toListener, "  retry: {}\n") + btp("ra", "2024-01-02T00:00:00Z", toRuleA, "  mergeType: JSONMerge\n  retry: {}\n"),
			"http/a=ra+g http/b=g http/2=g admin/a=ra+l admin/b=l admin/2=l"},
		{"merge without parent applies alone", btp("r", "2024-01-02T00:00:00Z", toRoute, "  mergeType: StrategicMerge\n  retry: {}\n"),
			"http/a=r http/b=r http/2=r admin/a=r admin/b=r admin/2=r"},
		{"older of two gateway policies wins", btp("young", "2024-05-01T00:00:00Z", toGateway, "  retry: {}\n") + btp("old", "2024-01-01T00:00:00Z", toGateway, "  retry: {}\n"),
			"http/a=old http/b=old http/2=old admin/a=old admin/b=old admin/2=old"},
		{"same age: namespace/name decides", btp("b", "2024-01-01T00:00:00Z", toRoute, "  retry: {}\n") + btp("a", "2024-01-01T00:00:00Z", toRoute, "  retry: {}\n"),
			"http/a=a http/b=a http/2=a admin/a=a admin/b=a admin/2=a"},
		{"targetSelectors matchLabels", btp("s", "2024-01-01T00:00:00Z", "  targetSelectors: [{kind: HTTPRoute, matchLabels: {app: shop}}]\n", "  retry: {}\n"),
			"http/a=s http/b=s http/2=s admin/a=s admin/b=s admin/2=s"},
		{"targetSelectors matchExpressions miss", btp("s", "2024-01-01T00:00:00Z", "  targetSelectors: [{kind: HTTPRoute, matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}]\n", "  retry: {}\n"),
			"http/a= http/b= http/2= admin/a= admin/b= admin/2="},
		{"targetSelectors on gateway", btp("s", "2024-01-01T00:00:00Z", "  targetSelectors: [{kind: Gateway, matchExpressions: [{key: tier, operator: Exists}]}]\n", "  retry: {}\n"),
			"http/a=s http/b=s http/2=s admin/a=s admin/b=s admin/2=s"},
		{"deprecated targetRef", btp("d", "2024-01-01T00:00:00Z", "  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r1, sectionName: b}\n", "  retry: {}\n"),
			"http/a= http/b=d http/2= admin/a= admin/b=d admin/2="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, attachBase+tc.policies)
			wantErrors(t, errs)
			if got := effective(m); got != tc.want {
				t.Errorf("effective policies:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMergeTypes(t *testing.T) {
	gw := btp("g", "2024-01-01T00:00:00Z", toGateway, "  httpUpgrade: [{type: websocket}]\n  retry: {numRetries: 5}\n  timeout: {http: {requestTimeout: 10s}}\n")
	for _, tc := range []struct {
		mergeType string
		upgrades  string
	}{
		{"StrategicMerge", "CONNECT,websocket"}, // httpUpgrade merges by type
		{"JSONMerge", "CONNECT"},                // lists replace
	} {
		t.Run(tc.mergeType, func(t *testing.T) {
			route := btp("r", "2024-01-02T00:00:00Z", toRoute, "  mergeType: "+tc.mergeType+"\n  httpUpgrade: [{type: CONNECT}]\n  timeout: {http: {connectionIdleTimeout: 5s}}\n")
			m, errs := load(t, attachBase+gw+route)
			wantErrors(t, errs)
			p := m.Gateways[0].Listeners[0].Routes[0].Rules[0].Policy
			var up []string
			for _, u := range p.HTTPUpgrade {
				up = append(up, u.Type)
			}
			if got := strings.Join(up, ","); got != tc.upgrades {
				t.Errorf("httpUpgrade = %s, want %s", got, tc.upgrades)
			}
			if p.Retry == nil || *p.Retry.NumRetries != 5 {
				t.Errorf("retry from the gateway policy lost: %+v", p.Retry)
			}
			if p.Timeout.HTTP.RequestTimeout == nil || string(*p.Timeout.HTTP.RequestTimeout) != "10s" || p.Timeout.HTTP.ConnectionIdleTimeout == nil {
				t.Errorf("timeout.http not merged field by field: %+v", p.Timeout.HTTP)
			}
			if p.MergeType != nil || len(p.TargetRefs) != 0 {
				t.Errorf("effective spec keeps attachment fields: mergeType %v targetRefs %v", p.MergeType, p.TargetRefs)
			}
		})
	}
}

func TestConfigMapBodies(t *testing.T) {
	ro := func(cm string) string {
		return "  responseOverride:\n  - match: {statusCodes: [{value: 503}]}\n    response: {body: {type: ValueRef, valueRef: {group: \"\", kind: ConfigMap, name: " + cm + "}}}\n"
	}
	cms := `
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keyed}
data: {other: "no", response.body: "yes"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: firstkey}
data: {b: second, a: first}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: binary}
binaryData: {x: Ymlu}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: empty}
`
	for _, tc := range []struct{ cm, body, err string }{
		{"keyed", "yes", ""},
		{"firstkey", "first", ""},
		{"binary", "bin", ""},
		{"empty", "", "spec.responseOverride[0].response.body.valueRef.name: can't find the key response.body in the referenced configmap default/empty"},
		{"missing", "", "spec.responseOverride[0].response.body.valueRef.name: can't find the referenced configmap default/missing"},
	} {
		t.Run(tc.cm, func(t *testing.T) {
			m, errs := load(t, attachBase+cms+btp("p", "", toRoute, ro(tc.cm)))
			if tc.err != "" {
				wantErrors(t, errs, tc.err)
				cond := m.Policies[0].Status.Ancestors[0].Conditions[0]
				if cond.Reason != "Invalid" || !strings.HasPrefix(cond.Message, "ResponseOverride: can't find") {
					t.Errorf("status condition = %+v, want Invalid naming the ConfigMap", cond)
				}
				return
			}
			wantErrors(t, errs)
			b := m.Gateways[0].Listeners[0].Routes[0].Rules[0].Policy.ResponseOverride[0].Response.Body
			if b.ValueRef != nil || b.Inline == nil || *b.Inline != tc.body || *b.Type != "Inline" {
				t.Errorf("body = %+v, want inline %q", b, tc.body)
			}
		})
	}
}

func TestPolicyTargetErrors(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"gateway missing", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: nope}]\n",
			[]string{`BackendTrafficPolicy/default/p: spec.targetRefs[0].name: Gateway "default/nope" not found: allowed default/gw`}},
		{"listener missing", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: nope}]\n",
			[]string{`spec.targetRefs[0].sectionName: listener "nope" not found on Gateway default/gw: allowed http, admin`}},
		{"route missing", "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nope}]\n",
			[]string{`spec.targetRefs[0].name: HTTPRoute "default/nope" not found: allowed default/r1`}},
		{"rule missing", "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r1, sectionName: nope}]\n",
			[]string{`spec.targetRefs[0].sectionName: rule "nope" not found on HTTPRoute default/r1: allowed a, b`}},
		{"listenerset missing", "  targetRefs: [{group: gateway.networking.k8s.io, kind: ListenerSet, name: g}]\n",
			[]string{`spec.targetRefs[0].name: ListenerSet "default/g" not found: allowed `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, attachBase+btp("p", "", tc.policy, "  retry: {}\n"))
			wantErrors(t, errs, tc.want...)
		})
	}
}

func TestAncestorsTruncated(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 18; i++ {
		fmt.Fprintf(&in, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw%02d, labels: {all: \"yes\"}}\nspec:\n  gatewayClassName: eg\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n", i)
	}
	// An older policy holds gw17, so this one is Conflicted there and that
	// ancestor must survive the truncation.
	in.WriteString(btp("holder", "2024-01-01T00:00:00Z", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw17}]\n", "  retry: {}\n"))
	in.WriteString(btp("wide", "2024-02-01T00:00:00Z", "  targetSelectors: [{kind: Gateway, matchLabels: {all: \"yes\"}}]\n", "  retry: {}\n"))
	m, errs := load(t, in.String())
	wantErrors(t, errs)
	anc := m.Policies[1].Status.Ancestors
	if len(anc) != maxAncestors {
		t.Fatalf("%d ancestors, want %d", len(anc), maxAncestors)
	}
	if anc[0].AncestorRef.Name != "gw17" || anc[0].Conditions[0].Reason != "Conflicted" {
		t.Errorf("first ancestor %s %+v, want the Conflicted gw17", anc[0].AncestorRef.Name, anc[0].Conditions)
	}
	last := anc[maxAncestors-1]
	if c := last.Conditions[len(last.Conditions)-1]; c.Type != "Aggregated" || last.AncestorRef.Name != "gw14" {
		t.Errorf("last ancestor %s %+v, want gw14 with Aggregated", last.AncestorRef.Name, c)
	}
}

func TestSelectorErrorsAndInvalidStatus(t *testing.T) {
	_, errs := load(t, attachBase+btp("p", "", "  targetSelectors: [{kind: ListenerSet}, {kind: HTTPRoute, matchExpressions: [{key: a, operator: In}]}]\n", "  retry: {}\n"))
	wantErrors(t, errs,
		`spec.targetSelectors[0].kind: unsupported value "ListenerSet": allowed Gateway, HTTPRoute, GRPCRoute, TCPRoute, UDPRoute, TLSRoute`,
		`spec.targetSelectors[1]: invalid label selector:`)

	// A policy that fails validation still attaches (as in Envoy Gateway,
	// where the route then answers 500) and reports Accepted=False/Invalid.
	m, errs := load(t, attachBase+btp("bad", "", toRoute, "  loadBalancer: {type: Foo}\n"))
	wantErrors(t, errs, `spec.loadBalancer.type: unsupported value "Foo"`)
	c := m.Policies[0].Status.Ancestors[0].Conditions[0]
	if c.Type != "Accepted" || c.Status != "False" || c.Reason != "Invalid" || !strings.Contains(c.Message, `unsupported value "Foo"`) {
		t.Errorf("condition %+v, want Accepted=False Invalid with the error", c)
	}
}
