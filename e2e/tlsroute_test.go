package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// startTLSEcho is a loopback TLS backend for host that echoes lines.
func startTLSEcho(t *testing.T, host string) (port int, cert *x509.Certificate) {
	t.Helper()
	cert, chain, key := selfSigned(t, host)
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, cert
}

// tlsEcho dials Envoy with SNI host, completes the handshake with whoever
// answers (the backend, through passthrough) and echoes one line.
func tlsEcho(addr, host string, roots *x509.CertPool) (*tls.Conn, string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: host})
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "hi "+host+"\n"); err != nil {
		c.Close()
		return nil, "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return c, strings.TrimSpace(line), err
}

// TLSRoutes through a real Envoy's TLS Passthrough listener: each SNI name
// reaches its own backend, which terminates TLS itself (the client verifies
// that backend's certificate, which Envoy never holds); route a's policy
// (circuitBreaker.maxConnections: 1) refuses a second connection while the
// first is open, route b is not limited.
func TestTLSRoutePassthrough(t *testing.T) {
	aPort, aCert := startTLSEcho(t, "a.example.com")
	bPort, bCert := startTLSEcho(t, "b.example.com")
	roots := x509.NewCertPool()
	roots.AddCert(aCert)
	roots.AddCert(bCert)
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"routes": []map[string]any{{"name": "a", "port": aPort}, {"name": "b", "port": bPort}}}
	boot := harness.Render(t, harness.Execute(t, "testdata/tlsroute.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	envoy := harness.StartEnvoy(t, boot, v.AdminPort)
	addr := "127.0.0.1:" + strconv.Itoa(v.Port)

	first, got, err := tlsEcho(addr, "a.example.com", roots)
	if err != nil || got != "hi a.example.com" {
		t.Fatalf("a.example.com through passthrough: %q, %v", got, err)
	}
	defer first.Close()
	if cn := first.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "a.example.com" {
		t.Errorf("a.example.com: the handshake was with %q, want backend a", cn)
	}
	if c, _, err := tlsEcho(addr, "a.example.com", roots); err == nil {
		c.Close()
		t.Error("second a.example.com connection succeeded while the first is open, want it refused (maxConnections: 1)")
	}
	envoy.WaitStat(t, "cluster.tlsroute/default/a/rule/-1.upstream_cx_overflow", 5*time.Second, func(n int64) bool { return n >= 1 })
	for i := 0; i < 2; i++ { // b has no limit: two at once
		c, got, err := tlsEcho(addr, "b.example.com", roots)
		if err != nil || got != "hi b.example.com" {
			t.Fatalf("b.example.com connection %d: %q, %v", i, got, err)
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "b.example.com" {
			t.Errorf("b.example.com: the handshake was with %q, want backend b", cn)
		}
	}
}
