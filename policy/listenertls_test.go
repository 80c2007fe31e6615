package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testPair is a self-signed certificate for host and its key, PEM.
func testPair(t *testing.T, host string) (chain, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func tlsSecret(ns, name string, chain, key []byte) string {
	b := base64.StdEncoding.EncodeToString
	return "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: " + ns + "}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: " + b(chain) + "\n  tls.key: " + b(key) + "\n"
}

const httpsGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: https, port: 8443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: cert, namespace: certs}]}}
`

const certGrant = `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret}]
`

func TestHTTPSListener(t *testing.T) {
	chain, key := testPair(t, "a.example.com")
	m, errs := load(t, httpsGateway+tlsSecret("certs", "cert", chain, key)+certGrant)
	wantErrors(t, errs)
	l := m.Gateways[0].Listeners[0]
	if l.TLS == nil || len(l.TLS.Certificates) != 1 || l.TLS.Certificates[0].Secret.String() != "certs/cert" ||
		string(l.TLS.Certificates[0].Chain) != string(chain) || string(l.TLS.Certificates[0].Key) != string(key) {
		t.Fatalf("listener TLS %+v, want the certs/cert key pair", l.TLS)
	}
}

func TestHTTPSListenerErrors(t *testing.T) {
	chain, key := testPair(t, "a.example.com")
	_, otherKey := testPair(t, "b.example.com")
	const at = "Gateway/default/gw: spec.listeners[0].tls.certificateRefs[0]"
	for _, tc := range []struct{ name, in, want string }{
		{"no ReferenceGrant", httpsGateway + tlsSecret("certs", "cert", chain, key),
			at + ".namespace: Secret certs/cert in another namespace needs a ReferenceGrant in namespace certs from Gateway in namespace default: none admits it"},
		{"grant for another kind", httpsGateway + tlsSecret("certs", "cert", chain, key) + strings.Replace(certGrant, "kind: Secret", "kind: ConfigMap", 1),
			at + ".namespace: Secret certs/cert in another namespace needs a ReferenceGrant"},
		{"missing Secret", httpsGateway + certGrant, at + `.name: Secret "certs/cert" not found`},
		{"key of another certificate", httpsGateway + tlsSecret("certs", "cert", chain, otherKey) + certGrant,
			at + ".name: Secret certs/cert: tls.crt and tls.key are not a PEM certificate and its private key"},
		{"opaque Secret", httpsGateway + strings.Replace(tlsSecret("certs", "cert", chain, key), "type: kubernetes.io/tls", "type: Opaque", 1) + certGrant,
			at + `.name: Secret certs/cert: type "Opaque": allowed kubernetes.io/tls`},
		{"no certificateRefs", strings.Replace(httpsGateway, "tls: {certificateRefs: [{name: cert, namespace: certs}]}", "tls: {}", 1),
			"spec.listeners[0].tls.certificateRefs: required on an HTTPS listener"},
		{"tls on HTTP", strings.Replace(httpsGateway, "protocol: HTTPS", "protocol: HTTP", 1) + tlsSecret("certs", "cert", chain, key) + certGrant,
			"spec.listeners[0].tls: set on a HTTP listener: only HTTPS and TLS listeners terminate TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := load(t, tc.in)
			wantErrors(t, errs, tc.want)
		})
	}
}

// A backendRef to another namespace resolves where a ReferenceGrant there
// admits the route's kind (Gateway API), and not otherwise.
func TestCrossNamespaceBackend(t *testing.T) {
	in := gatewayYAML + `
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: backends}
spec: {clusterIP: 10.0.0.9, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, namespace: backends, port: 80}]}]
`
	grant := `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: backends}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service, name: web}]
`
	m, errs := load(t, in+grant)
	wantErrors(t, errs)
	b := m.Gateways[0].Listeners[0].Routes[0].Rules[0].Backends
	if len(b) != 1 || b[0].Name.String() != "backends/web" || b[0].Endpoints[0].Address != "10.0.0.9" {
		t.Errorf("backends %+v, want backends/web at 10.0.0.9", b)
	}
	_, errs = load(t, in+strings.Replace(grant, "kind: HTTPRoute", "kind: GRPCRoute", 1))
	wantErrors(t, errs, "HTTPRoute/default/r: spec.rules[0].backendRefs[0].namespace: Service backends/web in another namespace needs a ReferenceGrant in namespace backends from HTTPRoute in namespace default")
}

// A TLS listener in mode Terminate (or without a mode: the Gateway API
// default) resolves its certificates as HTTPS does and takes TCPRoutes and
// TLSRoutes; a Passthrough listener takes only TLSRoutes (Envoy Gateway's
// allowedRouteKindsForProtocol).
func TestTLSTerminateListener(t *testing.T) {
	chain, key := testPair(t, "db.example.com")
	in := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners:
  - {name: term, port: 8443, protocol: TLS, hostname: db.example.com, tls: {mode: Terminate, certificateRefs: [{name: cert}]}}
  - {name: nomode, port: 8444, protocol: TLS, tls: {certificateRefs: [{name: cert}]}}
  - {name: pass, port: 8445, protocol: TLS, tls: {mode: Passthrough}}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: 10.0.0.9, ports: [{port: 5432}]}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: db}
spec:
  parentRefs: [{name: gw}]
  hostnames: [db.example.com]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
` + tlsSecret("default", "cert", chain, key)
	m, errs := load(t, in)
	wantErrors(t, errs)
	ls := m.Gateways[0].Listeners
	kinds := func(l *Listener) string {
		var k []string
		for _, r := range l.Routes {
			k = append(k, r.Kind)
		}
		return strings.Join(k, ",")
	}
	for _, l := range ls[:2] {
		if l.TLS == nil || len(l.TLS.Certificates) != 1 || l.TLS.Certificates[0].Secret.Name != "cert" {
			t.Errorf("listener %s: TLS %+v, want the certificate of Secret default/cert", l.Name, l.TLS)
		}
		if got := kinds(l); got != "TCPRoute,TLSRoute" && got != "TLSRoute,TCPRoute" {
			t.Errorf("listener %s routes %q, want the TCPRoute and the TLSRoute", l.Name, got)
		}
	}
	if ls[2].TLS != nil || kinds(ls[2]) != "TLSRoute" {
		t.Errorf("passthrough listener: TLS %+v, routes %q; want no certificates and the TLSRoute only", ls[2].TLS, kinds(ls[2]))
	}
}
