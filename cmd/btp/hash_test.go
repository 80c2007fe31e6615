package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/envoy-btp/envoy-btp/lbhash"
)

const hashResources = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: carts, namespace: default}
spec:
  endpoints:
  - ip: {address: 10.0.0.11, port: 8080}
  - ip: {address: 10.0.0.12, port: 8080}
  - ip: {address: 10.0.0.13, port: 8080}
  - ip: {address: 10.0.0.14, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: carts, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: api
    backendRefs:
    - {group: gateway.envoyproxy.io, kind: Backend, name: carts}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: sticky, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: carts}]
  loadBalancer:
    type: ConsistentHash
    consistentHash:
%s
`

func hashInput(t *testing.T, consistentHash string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(hashResources, consistentHash)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runBtp(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

var endpointLine = regexp.MustCompile(`(?m)^endpoint: (\S+)$`)

// expected computes the endpoint independently of the CLI: the Maglev
// table of the four endpoints and xxHash64 of the key.
func expected(t *testing.T, hash uint64) string {
	t.Helper()
	s := &lbhash.HostSet{}
	for i := 11; i <= 14; i++ {
		s.Hosts = append(s.Hosts, lbhash.Host{Address: "10.0.0." + strconv.Itoa(i) + ":8080"})
	}
	m, err := lbhash.NewMaglev(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s.Hosts[m.Pick(hash)].Address
}

func TestHashPredictsEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, ch string
		args     []string
		hash     uint64
	}{
		{"header", "      type: Header\n      header: {name: x-user-id}", []string{"--header", "x-user-id=alice"}, xxhash.Sum64String("alice")},
		{"source ip", "      type: SourceIP", []string{"--source-ip", "203.0.113.9"}, xxhash.Sum64String("203.0.113.9")},
		{"cookie", "      type: Cookie\n      cookie: {name: sid}", []string{"--cookie", "sid=abc"}, xxhash.Sum64String("abc")},
		{"query", "      type: QueryParams\n      queryParams: [{name: u}]", []string{"--query", "u=42"}, xxhash.Sum64String("42")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := hashInput(t, tc.ch)
			code, out, errs := runBtp(append([]string{"hash", "-f", in, "--route", "default/carts"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			m := endpointLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no endpoint line in:\n%s", out)
			}
			if want := expected(t, tc.hash); m[1] != want {
				t.Fatalf("endpoint %s, want %s\n%s", m[1], want, out)
			}
		})
	}
}

func TestHashGeneratedCookie(t *testing.T) {
	in := hashInput(t, "      type: Cookie\n      cookie: {name: sid, ttl: 1h}")
	code, out, errs := runBtp("hash", "-f", in, "--route", "default/carts", "--source-ip", "198.51.100.7:51000", "--local", "192.0.2.1:8080")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	cookie := fmt.Sprintf("%016x", xxhash.Sum64String("198.51.100.7:51000192.0.2.1:8080"))
	if !strings.Contains(out, `Set-Cookie sid="`+cookie+`" (Max-Age 3600)`) {
		t.Fatalf("generated cookie %s not reported:\n%s", cookie, out)
	}
	if want := expected(t, xxhash.Sum64String(cookie)); !strings.Contains(out, "endpoint: "+want+"\n") {
		t.Fatalf("want endpoint %s:\n%s", want, out)
	}
	// Without the connection's addresses the generated cookie is unknown.
	code, _, errs = runBtp("hash", "-f", in, "--route", "default/carts")
	if code == 0 || !strings.Contains(errs, "--source-ip IP:PORT and --local IP:PORT") {
		t.Fatalf("exit %d, stderr %q: want an unpredictable error naming the missing flags", code, errs)
	}
}

var movedLine = regexp.MustCompile(`(?m)^moved: +([0-9.]+)% .*\n  off removed endpoints: +([0-9.]+)%\n  between other endpoints: +([0-9.]+)%`)

func TestHashWithoutEndpoint(t *testing.T) {
	in := hashInput(t, "      type: Header\n      header: {name: x-user-id}")
	code, out, errs := runBtp("hash", "-f", in, "--route", "default/carts", "--without", "10.0.0.12:8080", "--samples", "20000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := movedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("unexpected output:\n%s", out)
	}
	moved, off, other := atof(t, m[1]), atof(t, m[2]), atof(t, m[3])
	// One of four equal endpoints holds ~25% of keys; Maglev moves little else.
	if off < 22 || off > 28 || other > 2 || moved < off {
		t.Fatalf("moved %.2f%% (off removed %.2f%%, other %.2f%%): want ~25%% off the removed endpoint and little else\n%s", moved, off, other, out)
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHashErrors(t *testing.T) {
	in := hashInput(t, "      type: Header\n      header: {name: x-user-id}")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--route", "carts"}, "allowed NAMESPACE/NAME"},
		{[]string{"--route", "default/none"}, "no such HTTPRoute"},
		{[]string{"--route", "default/carts", "--rule", "web"}, `--rule "web": HTTPRoute default/carts has no such rule: allowed api`},
		{[]string{"--route", "default/carts"}, "none of header x-user-id"},
		{[]string{"--route", "default/carts", "--without", "10.9.9.9:1"}, "not an endpoint of this rule"},
		{[]string{"--route", "default/carts", "--without", "10.0.0.11:8080", "--header", "a=b"}, "leave out the key flags"},
		{[]string{"--route", "default/carts", "--header", "novalue"}, "allowed NAME=VALUE"},
		{[]string{"--route", "default/carts", "--source-ip", "nope", "--header", "x-user-id=a"}, "--source-ip \"nope\""},
	} {
		code, _, errs := runBtp(append([]string{"hash", "-f", in}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want it to contain %q", tc.args, code, errs, tc.want)
		}
	}
	notHashed := hashInput(t, "      type: Header\n      header: {name: x}")
	os.WriteFile(notHashed, []byte(strings.Replace(fmt.Sprintf(hashResources, ""), "  loadBalancer:\n    type: ConsistentHash\n    consistentHash:\n", "  loadBalancer: {type: RoundRobin}\n", 1)), 0o644)
	if code, _, errs := runBtp("hash", "-f", notHashed, "--route", "default/carts", "--header", "x=1"); code == 0 || !strings.Contains(errs, "not ConsistentHash") {
		t.Errorf("round robin route: exit %d, stderr %q", code, errs)
	}
}

func TestHashRetryAfterFailure(t *testing.T) {
	in := hashInput(t, "      type: Header\n      header: {name: x-user-id}\n  retry: {numRetries: 2}")
	code, out, errs := runBtp("hash", "-f", in, "--route", "default/carts", "--header", "x-user-id=alice")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	first := endpointLine.FindStringSubmatch(out)[1]
	code, out, errs = runBtp("hash", "-f", in, "--route", "default/carts", "--header", "x-user-id=alice", "--failed", first)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`(?m)^retry: +(\S+) \(attempt 2, after ` + regexp.QuoteMeta(first) + ` failed\)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no retry line:\n%s", out)
	}
	// Envoy re-picks with the hash mutated per selection attempt until an
	// endpoint not tried comes up (previous_hosts, 5 selection attempts).
	h := xxhash.Sum64String("alice")
	want := ""
	for attempt := uint64(1); attempt <= 5; attempt++ {
		if ep := expected(t, h^(^uint64(0)-attempt+1)); ep != first {
			want = ep
			break
		}
	}
	if m[1] != want {
		t.Fatalf("retry endpoint %s, want %s", m[1], want)
	}
	if code, _, errs := runBtp("hash", "-f", in, "--route", "default/carts", "--header", "x-user-id=alice",
		"--failed", "10.0.0.11:8080", "--failed", "10.0.0.12:8080", "--failed", "10.0.0.13:8080"); code == 0 || !strings.Contains(errs, "retries at most 2 times") {
		t.Fatalf("three failures with two retries: exit %d, stderr %q", code, errs)
	}
	noRetry := hashInput(t, "      type: Header\n      header: {name: x-user-id}")
	if code, _, errs := runBtp("hash", "-f", noRetry, "--route", "default/carts", "--header", "x-user-id=alice", "--failed", first); code == 0 || !strings.Contains(errs, "no retry policy") {
		t.Fatalf("no retry policy: exit %d, stderr %q", code, errs)
	}
}
