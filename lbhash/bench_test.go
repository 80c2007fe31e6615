package lbhash

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var sinkInt int
var sinkHash Hash

func benchHosts(n int) *HostSet {
	s := &HostSet{}
	for i := 0; i < n; i++ {
		s.Hosts = append(s.Hosts, Host{Address: fmt.Sprintf("10.%d.%d.%d:8080", i>>16, (i>>8)&255, i&255)})
	}
	return s
}

func BenchmarkHashSourceIP(b *testing.B) {
	p := Policies{{Kind: SourceIP}}
	r := &Request{Source: netip.MustParseAddrPort("203.0.113.57:41234")}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkHashHeader(b *testing.B) {
	p := Policies{{Kind: Header, Name: "x-user-id"}}
	r := &Request{Headers: []Field{{":authority", "example.com"}, {"user-agent", "curl/8"}, {"x-user-id", "user-123456"}}}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkHashHeaders3(b *testing.B) {
	p := Policies{{Kind: Header, Name: "x-a"}, {Kind: Header, Name: "x-b"}, {Kind: Header, Name: "x-c"}}
	r := &Request{Headers: []Field{{"x-a", "1"}, {"x-b", "two"}, {"x-c", "three"}, {"x-b", "dup"}}}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkHashCookie(b *testing.B) {
	p := Policies{{Kind: Cookie, Name: "session"}}
	r := &Request{Headers: []Field{{"cookie", "theme=dark; lang=en; session=\"abcdef0123456789\"; x=y"}}}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkHashGeneratedCookie(b *testing.B) {
	d := newDuration()
	p := Policies{{Kind: Cookie, Name: "session", CookieTTL: d}}
	r := &Request{Source: netip.MustParseAddrPort("203.0.113.57:41234"), Local: netip.MustParseAddrPort("10.0.0.1:443")}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkHashQueryParams2(b *testing.B) {
	p := Policies{{Kind: QueryParameter, Name: "user"}, {Kind: QueryParameter, Name: "tenant"}}
	r := &Request{Path: "/api/v1/items?page=3&user=u-998877&tenant=acme&sort=asc"}
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = p.Hash(r)
	}
}

func BenchmarkMaglevPick(b *testing.B) {
	m, err := NewMaglev(benchHosts(1000), DefaultMaglevTableSize)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	h := uint64(0x9e3779b97f4a7c15)
	for b.Loop() {
		h = h*6364136223846793005 + 1442695040888963407
		sinkInt = m.Pick(h)
	}
}

func BenchmarkRingPick(b *testing.B) {
	r, err := NewRing(benchHosts(1000), 0, 0, XXHash)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	h := uint64(0x9e3779b97f4a7c15)
	for b.Loop() {
		h = h*6364136223846793005 + 1442695040888963407
		sinkInt = r.Pick(h)
	}
}

func BenchmarkRouteChooseHeader(b *testing.B) {
	s := benchHosts(100)
	m, _ := NewMaglev(s, DefaultMaglevTableSize)
	rt := &Route{Policies: Policies{{Kind: Header, Name: "x-user-id"}}, Clusters: []Cluster{{Name: "c", Hosts: s, LB: m}}}
	r := &Request{Headers: []Field{{"x-user-id", "user-123456"}}}
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = rt.Choose(r).Host
	}
}

func BenchmarkMaglevBuild1000Hosts(b *testing.B) {
	s := benchHosts(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewMaglev(s, DefaultMaglevTableSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRingBuild1000Hosts(b *testing.B) {
	s := benchHosts(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewRing(s, 0, 0, XXHash); err != nil {
			b.Fatal(err)
		}
	}
}

func newDuration() *time.Duration {
	d := time.Hour
	return &d
}
