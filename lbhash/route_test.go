package lbhash

import (
	"math/bits"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

func maglevCluster(t *testing.T, name string, weight uint32, ports ...int) Cluster {
	t.Helper()
	s := hostsOnPorts(ports...)
	m, err := NewMaglev(s, 7)
	if err != nil {
		t.Fatal(err)
	}
	return Cluster{Name: name, Weight: weight, Hosts: s, LB: m}
}

func TestRouteSingleCluster(t *testing.T) {
	rt := &Route{
		Policies: Policies{{Kind: Header, Name: "x-user"}},
		Clusters: []Cluster{maglevCluster(t, "c", 0, 90, 91, 92, 93, 94, 95)},
	}
	if err := rt.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &Request{Headers: []Field{{"x-user", "alice"}}}
	c := rt.Choose(r)
	h := xxhash.Sum64String("alice")
	// Envoy's Basic table for these six hosts at size 7.
	want := []int{2, 4, 0, 1, 5, 0, 3}[h%7]
	if c.Outcome != FromRequest || c.Hash != h || c.Cluster != 0 || c.Host != want {
		t.Fatalf("Choose = %+v, want host %d for hash %d", c, want, h)
	}
	if got := rt.Endpoint(c); got != rt.Clusters[0].Hosts.Hosts[want].Address {
		t.Fatalf("Endpoint = %q", got)
	}
	if c := rt.Choose(&Request{}); c.Outcome != Unpredictable || c.Host != -1 || rt.Endpoint(c) != "" {
		t.Fatalf("request without the header: %+v, want unpredictable", c)
	}
}

func TestRouteWeightedClusters(t *testing.T) {
	ttl := time.Minute
	rt := &Route{
		Policies: Policies{{Kind: Header, Name: "x-user"}, {Kind: Cookie, Name: "s", CookieTTL: &ttl}},
		Clusters: []Cluster{
			maglevCluster(t, "a", 1, 90, 91, 92),
			maglevCluster(t, "b", 3, 93, 94, 95),
		},
		HashPicksCluster: true,
	}
	r := &Request{
		Headers: []Field{{"x-user", "bob"}},
		Source:  netip.MustParseAddrPort("127.0.0.9:5000"),
		Local:   netip.MustParseAddrPort("127.0.0.1:8080"),
	}
	// The cluster comes from the header alone (no cookie generation during
	// weighted-cluster selection); the host from header and generated
	// cookie combined.
	hCluster := xxhash.Sum64String("bob")
	cookie, _ := GeneratedCookie(r.Source, r.Local)
	hHost := bits.RotateLeft64(hCluster, 1) ^ xxhash.Sum64String(cookie)
	c := rt.Choose(r)
	wantCluster := PickWeighted([]uint32{1, 3}, hCluster)
	if c.Outcome != FromGeneratedCookie || c.Hash != hHost || c.Cluster != wantCluster || c.Host != rt.Clusters[wantCluster].LB.Pick(hHost) {
		t.Fatalf("Choose = %+v, want cluster %d and the host for hash %d", c, wantCluster, hHost)
	}
	r.Source = netip.AddrPort{}
	if c := rt.Choose(r); c.Outcome != Unpredictable || c.Cluster != wantCluster || c.Host != -1 {
		t.Fatalf("without addresses: %+v, want cluster %d and an unpredictable host", c, wantCluster)
	}
	rt.HashPicksCluster = false
	if c := rt.Choose(r); c.Outcome != Unpredictable || c.Cluster != -1 {
		t.Fatalf("random weighted clusters predicted: %+v", c)
	}
}

// Envoy's BasicWithRetryHostPredicate: hash 10 on the six-host table of
// size 7 picks host 1; with host 1 tried the retry picks host 0; with every
// host tried the last of the 2+1 selections (host 5) stands.
func TestRouteRetryMatchesEnvoy(t *testing.T) {
	c := maglevCluster(t, "c", 0, 90, 91, 92, 93, 94, 95)
	rt := &Route{Clusters: []Cluster{c}, Retries: 2, RetryAvoidsTried: true, HostSelectionAttempts: 2}
	// A hash policy whose hash is 10 is not at hand; pick through the
	// balancer the way Retry does, with Choose's hash replaced.
	addr := func(i int) string { return c.Hosts.Hosts[i].Address }
	pick := func(tried ...string) int {
		for i := uint32(0); i <= rt.HostSelectionAttempts; i++ {
			h := c.LB.PickAttempt(10, i)
			if !slices.Contains(tried, addr(h)) {
				return h
			}
			if i == rt.HostSelectionAttempts {
				return h
			}
		}
		return -1
	}
	if got := pick(); got != 1 {
		t.Fatalf("first pick %d, want 1", got)
	}
	if got := pick(addr(1)); got != 0 {
		t.Fatalf("retry after host 1: %d, want 0", got)
	}
	var all []string
	for i := range c.Hosts.Hosts {
		all = append(all, addr(i))
	}
	if got := pick(all...); got != 5 {
		t.Fatalf("retry with every host tried: %d, want 5", got)
	}

	// Retry itself, with a real request.
	rt.Policies = Policies{{Kind: Header, Name: "k"}}
	r := &Request{Headers: []Field{{"k", "v"}}}
	first := rt.Choose(r)
	again := rt.Retry(r, []string{addr(first.Host)})
	if again.Host == first.Host || again.Cluster != first.Cluster {
		t.Fatalf("retry %+v repeats the failed pick %+v", again, first)
	}
	h := first.Hash
	for i := uint32(0); i <= rt.HostSelectionAttempts; i++ {
		if p := c.LB.PickAttempt(h, i); p != first.Host {
			if p != again.Host {
				t.Fatalf("retry host %d, want the first different attempt pick %d", again.Host, p)
			}
			break
		}
	}
	rt.RetryAvoidsTried = false
	if same := rt.Retry(r, []string{addr(first.Host)}); same.Host != first.Host {
		t.Fatalf("without previous_hosts the retry re-picks %d, want %d", same.Host, first.Host)
	}
}
