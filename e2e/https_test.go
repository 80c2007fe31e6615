package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// selfSigned makes a certificate for host valid for the test's duration.
func selfSigned(t *testing.T, host string) (cert *x509.Certificate, chainPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// tlsClient speaks TLS with SNI host to Envoy's port on loopback, trusting
// only roots, offering HTTP/2 and HTTP/1.1 by ALPN.
func tlsClient(port int, host string, roots *x509.CertPool) *http.Client {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// HTTPS listeners through a real Envoy: each hostname gets its own
// listener's certificate by SNI (b's from another namespace through a
// ReferenceGrant), HTTP/2 is negotiated by ALPN as Envoy Gateway offers it,
// the policy on a's teapot rule still aborts with 418, the other rules reach
// the backend, and a name no listener serves gets no TLS session.
func TestHTTPSListeners(t *testing.T) {
	be := harness.StartBackend(t, "app")
	aCert, aChain, aKey := selfSigned(t, "a.example.com")
	bCert, bChain, bKey := selfSigned(t, "b.example.com")
	b64 := base64.StdEncoding.EncodeToString
	v := harness.NewVars(t, []*harness.Backend{be})
	v.Values = map[string]any{"aCert": b64(aChain), "aKey": b64(aKey), "bCert": b64(bChain), "bKey": b64(bKey)}
	boot := harness.Render(t, harness.Execute(t, "testdata/https.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	harness.StartEnvoy(t, boot, v.AdminPort)
	roots := x509.NewCertPool()
	roots.AddCert(aCert)
	roots.AddCert(bCert)

	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"a.example.com", "/teapot", 418}, // the policy, enforced over TLS
		{"a.example.com", "/", 200},
		{"b.example.com", "/", 200},
	} {
		c := tlsClient(v.Port, tc.host, roots)
		req, err := http.NewRequest(http.MethodGet, "https://"+tc.host+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET https://%s%s: %v", tc.host, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET https://%s%s: status %d, want %d", tc.host, tc.path, resp.StatusCode, tc.want)
		}
		if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != tc.host {
			t.Errorf("GET https://%s%s: served certificate for %v, want the listener's for %s", tc.host, tc.path, got, tc.host)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("GET https://%s%s: %s, want HTTP/2 by ALPN", tc.host, tc.path, resp.Proto)
		}
	}
	if be.Hits() != 2 {
		t.Errorf("backend hits %d, want 2 (the 418 never reaches it)", be.Hits())
	}
	// No filter chain serves c.example.com: Envoy closes the handshake.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(v.Port),
		&tls.Config{RootCAs: roots, ServerName: "c.example.com"})
	if err == nil {
		conn.Close()
		t.Error("TLS handshake for c.example.com succeeded, want it refused (no listener has that hostname)")
	}
}
