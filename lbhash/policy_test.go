package lbhash

import (
	"fmt"
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Envoy's test/common/common/hash_test.cc vectors: xxHash64, seed 0.
func TestXXHashMatchesEnvoyVectors(t *testing.T) {
	for in, want := range map[string]uint64{
		"foo":      3728699739546630719,
		"bar":      5234164152756840025,
		"foo\nbar": 8917841378505826757,
		"lyft":     4400747396090729504,
		"":         17241709254077376921,
	} {
		if got := xxhash.Sum64String(in); got != want {
			t.Errorf("xxHash64(%q) = %d, want %d", in, got, want)
		}
	}
}

func seeded(s string, seed uint64) uint64 {
	d := xxhash.NewWithSeed(seed)
	_, _ = d.WriteString(s)
	return d.Sum64()
}

func TestPolicyKinds(t *testing.T) {
	ttl := time.Hour
	src := netip.MustParseAddrPort("192.168.1.1:5555")
	for _, tc := range []struct {
		name string
		p    Policies
		r    Request
		want Hash
	}{
		{"source ip", Policies{{Kind: SourceIP}}, Request{Source: src},
			Hash{xxhash.Sum64String("192.168.1.1"), FromRequest}},
		{"source ipv6", Policies{{Kind: SourceIP}}, Request{Source: netip.MustParseAddrPort("[2001:db8::1]:80")},
			Hash{xxhash.Sum64String("2001:db8::1"), FromRequest}},
		{"header any case", Policies{{Kind: Header, Name: "X-User"}}, Request{Headers: []Field{{"x-user", "test-value"}}},
			Hash{xxhash.Sum64String("test-value"), FromRequest}},
		{"header values sorted then chained", Policies{{Kind: Header, Name: "x-user"}},
			Request{Headers: []Field{{"x-user", "foo"}, {"other", "z"}, {"X-User", "bar"}}},
			Hash{seeded("foo", xxhash.Sum64String("bar")), FromRequest}},
		{"header absent", Policies{{Kind: Header, Name: "x-user"}}, Request{}, Hash{}},
		{"query first value raw", Policies{{Kind: QueryParameter, Name: "id"}},
			Request{Path: "/p?x=1&id=a%20b&id=second"}, Hash{xxhash.Sum64String("a%20b"), FromRequest}},
		{"query bare name is empty value", Policies{{Kind: QueryParameter, Name: "id"}},
			Request{Path: "/p?id&x=1"}, Hash{xxhash.Sum64String(""), FromRequest}},
		{"query absent", Policies{{Kind: QueryParameter, Name: "id"}}, Request{Path: "/p?idx=1"}, Hash{}},
		{"query no query string", Policies{{Kind: QueryParameter, Name: "id"}}, Request{Path: "/id=1"}, Hash{}},
		{"cookie", Policies{{Kind: Cookie, Name: "s"}},
			Request{Headers: []Field{{"cookie", "a=1; s=cookie-value; b=2"}}}, Hash{xxhash.Sum64String("cookie-value"), FromRequest}},
		{"cookie quoted, second header", Policies{{Kind: Cookie, Name: "s"}},
			Request{Headers: []Field{{"cookie", "a=1"}, {"Cookie", ` s="v"`}}}, Hash{xxhash.Sum64String("v"), FromRequest}},
		{"cookie name is case-sensitive", Policies{{Kind: Cookie, Name: "s"}},
			Request{Headers: []Field{{"cookie", "S=v"}}}, Hash{}},
		{"cookie absent without ttl", Policies{{Kind: Cookie, Name: "s"}}, Request{Source: src}, Hash{}},
		{"cookie absent, ttl, addresses unknown", Policies{{Kind: Cookie, Name: "s", CookieTTL: &ttl}}, Request{}, Hash{}},
		{"cookie empty value is absent", Policies{{Kind: Cookie, Name: "s"}},
			Request{Headers: []Field{{"cookie", "s=; s=late"}}}, Hash{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Hash(&tc.r); got != tc.want {
				t.Fatalf("Hash = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGeneratedCookie(t *testing.T) {
	ttl := time.Hour
	src := netip.MustParseAddrPort("127.0.0.5:40000")
	local := netip.MustParseAddrPort("127.0.0.1:10000")
	want := fmt.Sprintf("%016x", xxhash.Sum64String("127.0.0.5:40000127.0.0.1:10000"))
	got, ok := GeneratedCookie(src, local)
	if !ok || got != want {
		t.Fatalf("GeneratedCookie = %q, %v; want %q", got, ok, want)
	}
	v6, _ := GeneratedCookie(netip.MustParseAddrPort("[::1]:4"), netip.MustParseAddrPort("[::1]:5"))
	if want6 := fmt.Sprintf("%016x", xxhash.Sum64String("[::1]:4[::1]:5")); v6 != want6 {
		t.Fatalf("IPv6 cookie %q, want %q", v6, want6)
	}
	p := Policies{{Kind: Cookie, Name: "s", CookieTTL: &ttl}}
	h := p.Hash(&Request{Source: src, Local: local})
	if h.Outcome != FromGeneratedCookie || h.Value != xxhash.Sum64String(want) {
		t.Fatalf("Hash = %+v, want generated cookie hash %d", h, xxhash.Sum64String(want))
	}
	// Weighted-cluster selection never generates the cookie.
	if h := p.HashNoCookieGeneration(&Request{Source: src, Local: local}); h.Outcome != Unpredictable {
		t.Fatalf("HashNoCookieGeneration = %+v, want unpredictable", h)
	}
}

func TestPoliciesCombine(t *testing.T) {
	r := &Request{
		Headers: []Field{{"a", "1"}, {"b", "2"}},
		Path:    "/?q=3",
	}
	ha, hb, hq := xxhash.Sum64String("1"), xxhash.Sum64String("2"), xxhash.Sum64String("3")
	rot := func(v uint64) uint64 { return bits.RotateLeft64(v, 1) }
	for _, tc := range []struct {
		name string
		p    Policies
		want uint64
	}{
		{"two headers", Policies{{Kind: Header, Name: "a"}, {Kind: Header, Name: "b"}}, rot(ha) ^ hb},
		{"three", Policies{{Kind: Header, Name: "a"}, {Kind: Header, Name: "b"}, {Kind: QueryParameter, Name: "q"}}, rot(rot(ha)^hb) ^ hq},
		{"duplicates do not cancel", Policies{{Kind: Header, Name: "a"}, {Kind: Header, Name: "a"}}, rot(ha) ^ ha},
		{"absent one is skipped", Policies{{Kind: Header, Name: "a"}, {Kind: Header, Name: "zz"}, {Kind: Header, Name: "b"}}, rot(ha) ^ hb},
		{"first absent starts from zero", Policies{{Kind: Header, Name: "zz"}, {Kind: Header, Name: "b"}}, hb},
		{"terminal stops", Policies{{Kind: Header, Name: "a", Terminal: true}, {Kind: Header, Name: "b"}}, ha},
		{"terminal without hash continues", Policies{{Kind: Header, Name: "zz", Terminal: true}, {Kind: Header, Name: "b"}}, hb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.Hash(r)
			if got.Outcome != FromRequest || got.Value != tc.want {
				t.Fatalf("Hash = %+v, want %d", got, tc.want)
			}
		})
	}
}

func TestPoliciesValidate(t *testing.T) {
	if err := (Policies{{Kind: Header}}).Validate(); err == nil {
		t.Fatal("header policy without a name accepted")
	}
	if err := (Policies{{Kind: 9, Name: "x"}}).Validate(); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if err := (Policies{{Kind: SourceIP}, {Kind: Cookie, Name: "c"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPickWeighted(t *testing.T) {
	ws := []uint32{1, 3, 0, 2}
	for v, want := range map[uint64]int{0: 0, 1: 1, 3: 1, 4: 3, 5: 3, 6: 0, 7: 1} {
		if got := PickWeighted(ws, v); got != want {
			t.Errorf("PickWeighted(%d) = %d, want %d", v, got, want)
		}
	}
	if PickWeighted([]uint32{0, 0}, 1) != -1 {
		t.Error("zero total weight picked a cluster")
	}
}
