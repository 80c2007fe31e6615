package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A TLS listener in mode Terminate through a real Envoy: the client's TLS
// session (SNI db.example.com) ends at Envoy with the listener's
// certificate and no ALPN, the loopback TCP backend receives the policy's
// PROXY protocol header and then the plaintext line (which it echoes), and
// a name the listener does not serve gets no TLS session.
func TestTLSTerminateListener(t *testing.T) {
	echo := startTCPEcho(t)
	cert, chain, key := selfSigned(t, "db.example.com")
	b64 := base64.StdEncoding.EncodeToString
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"echoPort": echo.port(), "cert": b64(chain), "key": b64(key)}
	boot := harness.Render(t, harness.Execute(t, "testdata/tlsterminate.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	if !strings.Contains(boot, "tls-terminate-"+strconv.Itoa(v.Port)) {
		t.Fatalf("no tls-terminate tcp_proxy in the bootstrap:\n%s", boot)
	}
	harness.StartEnvoy(t, boot, v.AdminPort)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	addr := "127.0.0.1:" + strconv.Itoa(v.Port)
	dialer := &net.Dialer{Timeout: 3 * time.Second}

	c, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "db.example.com", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to %s with SNI db.example.com: %v", addr, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if got := st.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "db.example.com" {
		t.Errorf("served certificate for %v, want the listener's for db.example.com", got)
	}
	if st.NegotiatedProtocol != "" {
		t.Errorf("ALPN negotiated %q, want none on a TLS listener", st.NegotiatedProtocol)
	}
	if got, err := echoOnce(c, "hello in plaintext"); err != nil || got != "hello in plaintext" {
		t.Fatalf("echo through Envoy: %q, %v; want the line back", got, err)
	}
	// The backend's first line is the PROXY header, so what it echoed
	// came after it: Envoy decrypted the stream before forwarding it.
	if h := echo.proxyHeaders(); len(h) != 1 || !strings.HasPrefix(h[0], "PROXY TCP4 127.0.0.1 127.0.0.1 ") {
		t.Errorf("backend got PROXY headers %q, want one v1 header for the client's connection", h)
	}

	// No filter chain serves other.example.com: Envoy closes the handshake.
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "other.example.com"})
	if err == nil {
		conn.Close()
		t.Error("TLS handshake for other.example.com succeeded, want it refused (the listener serves db.example.com)")
	}
}
