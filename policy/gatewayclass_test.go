package policy

import (
	"strings"
	"testing"
)

const twoGateways = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other}
spec:
  gatewayClassName: other
  listeners: [{name: http, port: 9090, protocol: SCTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: eg}, {name: other}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p1}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: other}
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}
`

const classes = `
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/other}
`

func TestGatewayClass(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		opts     Options
		gateways []string
		warn     []string
		errs     []string
	}{
		{name: "EG's controller handles, another's is skipped", in: twoGateways + classes, gateways: []string{"default/eg"},
			warn: []string{`-: Gateway/default/other: spec.gatewayClassName: "other": skipped, as Envoy Gateway would ignore it: GatewayClass "other" has controllerName "example.com/other", not Envoy Gateway's gateway.envoyproxy.io/gatewayclass-controller; --gateway-class other handles it`}},
		{name: "a class the input does not hold", in: twoGateways + classes[:strings.Index(classes, "---\napiVersion: gateway.networking.k8s.io/v1beta1")],
			gateways: []string{"default/eg"}, warn: []string{`"other": skipped, as Envoy Gateway would ignore it: the input holds no GatewayClass "other" (it holds "eg")`}},
		{name: "--gateway-class overrides the controllerName", in: twoGateways + classes, opts: Options{GatewayClasses: []string{"other"}},
			gateways: []string{"default/other"}, warn: []string{`"eg": skipped, as Envoy Gateway would ignore it: not a class btp was asked to handle (--gateway-class other)`},
			errs: []string{`Gateway/default/other: spec.listeners[0].protocol: unsupported value "SCTP"`}},
		{name: "--gateway-class naming no Gateway", in: twoGateways + classes, opts: Options{GatewayClasses: []string{"eg", "nope"}},
			gateways: []string{"default/eg"}, warn: []string{`"other": skipped`, "--gateway-class nope: no Gateway of the input has this class"}},
		{name: "no GatewayClass in the input: every Gateway", in: twoGateways, gateways: []string{"default/eg", "default/other"},
			errs: []string{`Gateway/default/other: spec.listeners[0].protocol: unsupported value "SCTP"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.opts.Load([]string{"-"}, strings.NewReader(tc.in))
			var errs ErrorList
			if err != nil {
				errs = err.(ErrorList)
			}
			wantErrors(t, errs, tc.errs...)
			wantErrors(t, m.Warnings, tc.warn...)
			var got []string
			for _, g := range m.Gateways {
				got = append(got, g.Name.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.gateways, " ") {
				t.Errorf("gateways %v, want %v", got, tc.gateways)
			}
		})
	}
}

// A policy on a skipped Gateway, or on a route through it, gets no status
// for it (Envoy Gateway never sees that Gateway), and no error.
func TestGatewayClassPolicyAncestors(t *testing.T) {
	m, errs := load(t, twoGateways+classes)
	wantErrors(t, errs)
	anc := m.Policies[0].Status.Ancestors
	if len(anc) != 1 || anc[0].AncestorRef.Name != "eg" {
		t.Errorf("ancestors %+v, want only Gateway eg", anc)
	}
}
