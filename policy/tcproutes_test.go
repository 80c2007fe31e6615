package policy

import (
	"strings"
	"testing"
)

const tcpBase = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - {name: db, port: 5432, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: 10.0.0.1, ports: [{port: 5432}]}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
`

func tcpRule(t *testing.T, m *Model) *Rule {
	t.Helper()
	for _, g := range m.Gateways {
		for _, l := range g.Listeners {
			for _, r := range l.Routes {
				if r.Kind == KindTCPRoute {
					if l.Name != "db" {
						t.Errorf("TCPRoute attached to listener %s, want only db", l.Name)
					}
					return r.Rules[0]
				}
			}
		}
	}
	t.Fatal("TCPRoute not attached")
	return nil
}

// Envoy Gateway fills a TCP route field by field (setIfNil): the route's
// policy first, then the Gateway's for what it leaves unset, never the
// Gateway's connection; fields that do not apply to TCP are dropped with a
// warning while the policy stays Accepted.
func TestTCPRoutePolicyFieldByField(t *testing.T) {
	m, errs := load(t, tcpBase+`
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: route, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: TCPRoute, name: db}]
  loadBalancer: {type: Random}
  retry: {numRetries: 3}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: gateway, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  loadBalancer: {type: LeastRequest}
  circuitBreaker: {maxConnections: 7}
  connection: {bufferLimit: 1Mi}
`)
	wantErrors(t, errs)
	r := tcpRule(t, m)
	s := r.Policy
	if s == nil || s.LoadBalancer == nil || s.LoadBalancer.Type != "Random" || s.CircuitBreaker == nil || *s.CircuitBreaker.MaxConnections != 7 {
		t.Fatalf("TCP rule policy %+v, want the route's loadBalancer and the Gateway's circuitBreaker", s)
	}
	if s.Connection != nil || s.Retry != nil {
		t.Errorf("TCP rule policy carries connection %v / retry %v, want neither", s.Connection, s.Retry)
	}
	if len(r.PolicySources) != 2 || r.PolicySources[0].Name != "route" || r.PolicySources[1].Name != "gateway" {
		t.Errorf("sources %v, want route then gateway", r.PolicySources)
	}
	var warned []string
	for _, w := range m.Warnings {
		warned = append(warned, w.Error())
	}
	all := strings.Join(warned, "\n")
	for _, want := range []string{
		"BackendTrafficPolicy/default/route: does not apply to TCPRoute default/db on listener default/gw/db, as in Envoy Gateway (a TCPRoute takes only loadBalancer, circuitBreaker, healthCheck, timeout, tcpKeepalive, proxyProtocol, dns and connection; the policy stays Accepted): spec.retry",
		"BackendTrafficPolicy/default/gateway: does not apply to TCPRoute default/db on listener default/gw/db",
		"spec.connection (from a Gateway or listener policy)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	for _, p := range m.Policies {
		if c := p.Status.Ancestors[0].Conditions[0]; c.Reason != "Accepted" {
			t.Errorf("policy %s: %s %q, want Accepted", p.Name, c.Reason, c.Message)
		}
	}
}

// An Invalid policy on a TCP route: Envoy Gateway sets no direct response
// on TCP, it applies the features that built; the failed one is left out.
func TestTCPRouteInvalidPolicyKeepsValidFields(t *testing.T) {
	m, errs := load(t, tcpBase+`
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: route}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: TCPRoute, name: db}]
  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 100}}
  circuitBreaker: {maxConnections: 7}
`)
	wantErrors(t, errs, "spec.loadBalancer.consistentHash.tableSize: invalid TableSize value 100")
	r := tcpRule(t, m)
	if r.PolicyError != "" || r.Policy == nil || r.Policy.LoadBalancer != nil || r.Policy.CircuitBreaker == nil {
		t.Errorf("PolicyError %q, policy %+v: want no 500, the circuit breaker, no load balancer", r.PolicyError, r.Policy)
	}
	if c := m.Policies[0].Status.Ancestors[0].Conditions[0]; c.Reason != "Invalid" {
		t.Errorf("status %s, want Invalid", c.Reason)
	}
}

func TestTCPRouteErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"two rules", strings.Replace(tcpBase, "rules: [{backendRefs: [{name: db, port: 5432}]}]", "rules: [{backendRefs: [{name: db, port: 5432}]}, {backendRefs: [{name: db, port: 5432}]}]", 1),
			"TCPRoute/default/db: spec.rules: 2 rules: Envoy Gateway supports one and only one rule on a TCPRoute"},
		{"only the HTTP listener", strings.Replace(tcpBase, "parentRefs: [{name: gw}]", "parentRefs: [{name: gw, sectionName: http}]", 1),
			`TCPRoute/default/db: spec.parentRefs[0]: not attached to Gateway default/gw: listener "http" does not allow TCPRoute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, tc.in)
			wantErrors(t, errs, tc.want)
		})
	}
}

// A UDPRoute takes only loadBalancer and dns from its policies (Envoy
// Gateway's UDP branch of applyTrafficFeatureToRoute), and attaches to UDP
// listeners only.
func TestUDPRoutePolicy(t *testing.T) {
	in := strings.Replace(tcpBase, "  - {name: db, port: 5432, protocol: TCP}", "  - {name: db, port: 5432, protocol: UDP}", 1)
	in = strings.Replace(in, "kind: TCPRoute", "kind: UDPRoute", 1) + `
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: route}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: UDPRoute, name: db}]
  loadBalancer: {type: Random}
  circuitBreaker: {maxConnections: 7}
  dns: {dnsRefreshRate: 5s}
`
	m, errs := load(t, in)
	wantErrors(t, errs)
	var rule *Rule
	for _, r := range m.Gateways[0].Listeners[1].Routes {
		if r.Kind == KindUDPRoute {
			rule = r.Rules[0]
		}
	}
	if rule == nil || rule.Policy == nil || rule.Policy.LoadBalancer == nil || rule.Policy.DNS == nil || rule.Policy.CircuitBreaker != nil {
		t.Fatalf("UDP rule %+v: want loadBalancer and dns, no circuitBreaker", rule)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Error(), "(a UDPRoute takes only loadBalancer and dns; the policy stays Accepted): spec.circuitBreaker") {
		t.Errorf("warnings %v, want the circuitBreaker one", m.Warnings)
	}
}

// A TLSRoute attaches to TLS Passthrough listeners with its hostnames
// intersected with the listener's (the SNI names it takes), joins its rules'
// backends, and takes the TCP fields of its policies.
func TestTLSRoute(t *testing.T) {
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: tls, port: 443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {clusterIP: 10.0.0.1, ports: [{port: 443}]}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com, other.test]
  rules:
  - {name: one, backendRefs: [{name: s, port: 443}]}
  - {backendRefs: [{name: s, port: 443, weight: 3}]}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: TLSRoute, name: r}]
  circuitBreaker: {maxConnections: 5}
  faultInjection: {abort: {httpStatus: 500}}
`
	m, errs := load(t, in)
	wantErrors(t, errs)
	l := m.Gateways[0].Listeners[0]
	if len(l.Routes) != 1 || len(m.Gateways[0].Listeners[1].Routes) != 0 {
		t.Fatalf("routes on tls %d, on http %d; want 1, 0", len(l.Routes), len(m.Gateways[0].Listeners[1].Routes))
	}
	rt := l.Routes[0]
	if strings.Join(rt.Hostnames, ",") != "a.example.com" || len(rt.Rules) != 1 || len(rt.Rules[0].Backends) != 2 {
		t.Errorf("TLSRoute on tls: hostnames %v, %d rules, backends %d; want a.example.com, 1 rule, 2 backends", rt.Hostnames, len(rt.Rules), len(rt.Rules[0].Backends))
	}
	if p := rt.Rules[0].Policy; p == nil || p.CircuitBreaker == nil || p.FaultInjection != nil {
		t.Errorf("policy %+v: want the circuit breaker only", p)
	}
	_, errs = load(t, strings.Replace(in, "tls: {mode: Passthrough}", "tls: {mode: Terminate}", 1))
	wantErrors(t, errs, "spec.listeners[0].tls.certificateRefs: required on a TLS listener in mode Terminate")
}
