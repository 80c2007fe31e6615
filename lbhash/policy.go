package lbhash

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// PolicyKind is the request attribute one hash policy reads.
type PolicyKind uint8

const (
	// SourceIP hashes the downstream remote IP as Envoy prints it
	// (connection_properties.source_ip).
	SourceIP PolicyKind = iota + 1
	// Header hashes every value of one request header.
	Header
	// Cookie hashes one cookie's value; with a TTL Envoy generates the
	// cookie when the request has none.
	Cookie
	// QueryParameter hashes the first value of one query parameter.
	QueryParameter
)

func (k PolicyKind) String() string {
	switch k {
	case SourceIP:
		return "SourceIP"
	case Header:
		return "Header"
	case Cookie:
		return "Cookie"
	case QueryParameter:
		return "QueryParameter"
	}
	return fmt.Sprintf("PolicyKind(%d)", uint8(k))
}

// Policy is one route hash_policy entry.
type Policy struct {
	Kind PolicyKind
	// Name is the header (matched case-insensitively), cookie or query
	// parameter name. Unused for SourceIP.
	Name string
	// CookieTTL, when set, makes Envoy generate the cookie if the request
	// lacks it (and set it on the response with Max-Age = TTL).
	CookieTTL *time.Duration
	// CookiePath is the generated cookie's Path attribute.
	CookiePath string
	// Terminal stops evaluation once a hash exists (hash_policy.terminal).
	Terminal bool
}

// Policies is a route's hash_policy list, evaluated in order.
type Policies []Policy

// Validate reports a policy Envoy would reject or lbhash cannot model.
func (ps Policies) Validate() error {
	for i, p := range ps {
		switch p.Kind {
		case SourceIP:
		case Header, Cookie, QueryParameter:
			if p.Name == "" {
				return fmt.Errorf("hash policy [%d] (%s): name is empty", i, p.Kind)
			}
		default:
			return fmt.Errorf("hash policy [%d]: kind %s unsupported: allowed SourceIP, Header, Cookie, QueryParameter", i, p.Kind)
		}
	}
	return nil
}

// Field is one request header.
type Field struct {
	Name, Value string
}

// Request is what Envoy's hash policies read from a request.
type Request struct {
	// Source is the downstream remote address as Envoy sees it: the client
	// socket address, or the address Envoy took from X-Forwarded-For when
	// the listener trusts it. SourceIP hashes only its IP.
	Source netip.AddrPort
	// Local is the address the client connected to (Envoy's listener). A
	// generated cookie hashes Source and Local of the connection.
	Local netip.AddrPort
	// Path is the :path header, query string included.
	Path string
	// Headers are the request headers in arrival order. "cookie" headers
	// carry cookies.
	Headers []Field
}

// Outcome says where a request hash came from.
type Outcome uint8

const (
	// Unpredictable: no policy produced a hash, so Envoy draws a random
	// value for this request and its endpoint cannot be predicted.
	Unpredictable Outcome = iota
	// FromRequest: the hash comes from the request's own attributes.
	FromRequest
	// FromGeneratedCookie: the cookie was absent and Envoy generated it
	// from the connection's addresses; the hash is that cookie's.
	FromGeneratedCookie
)

func (o Outcome) String() string {
	switch o {
	case Unpredictable:
		return "unpredictable"
	case FromRequest:
		return "request"
	case FromGeneratedCookie:
		return "generated-cookie"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Hash is a request's hash and where it came from.
type Hash struct {
	Value   uint64
	Outcome Outcome
}

// Hash computes the hash Envoy's router hands the load balancer, as
// Http::HashPolicyImpl::generateHash does with a cookie generator.
func (ps Policies) Hash(r *Request) Hash { return ps.hash(r, true) }

// HashNoCookieGeneration is the hash Envoy uses to pick among weighted
// clusters (use_hash_policy): the same policies, but an absent cookie is
// never generated there.
func (ps Policies) HashNoCookieGeneration(r *Request) Hash { return ps.hash(r, false) }

func (ps Policies) hash(r *Request, generate bool) Hash {
	var acc uint64
	have, generated := false, false
	for i := range ps {
		p := &ps[i]
		var (
			h  uint64
			ok bool
		)
		switch p.Kind {
		case SourceIP:
			h, ok = hashSourceIP(r.Source)
		case Header:
			h, ok = hashHeader(r.Headers, p.Name)
		case QueryParameter:
			h, ok = hashQuery(r.Path, p.Name)
		case Cookie:
			if v, found := cookieValue(r.Headers, p.Name); found && v != "" {
				h, ok = xxhash.Sum64String(v), true
			} else if generate && p.CookieTTL != nil {
				if h, ok = hashGeneratedCookie(r.Source, r.Local); ok {
					generated = true
				} else {
					// Envoy would generate a cookie from addresses we
					// were not given: its hash is unknown to us.
					return Hash{}
				}
			}
		}
		if ok {
			// Rotate so duplicate policies cannot cancel each other out.
			old := uint64(0)
			if have {
				old = acc<<1 | acc>>63
			}
			acc, have = old^h, true
		}
		if p.Terminal && have {
			break
		}
	}
	switch {
	case !have:
		return Hash{}
	case generated:
		return Hash{Value: acc, Outcome: FromGeneratedCookie}
	}
	return Hash{Value: acc, Outcome: FromRequest}
}

// hashSourceIP hashes Address::Ip::addressAsString(): dotted quad for IPv4,
// RFC 5952 text for IPv6.
func hashSourceIP(a netip.AddrPort) (uint64, bool) {
	if !a.Addr().IsValid() {
		return 0, false
	}
	var buf [64]byte
	return xxhash.Sum64(a.Addr().AppendTo(buf[:0])), true
}

// maxHeaderValues bounds the values hashed without allocating; more values
// of one header fall back to a heap slice.
const maxHeaderValues = 8

// hashHeader hashes all values of the header, sorted so their order does
// not matter, chaining each value's xxHash64 as the next seed.
func hashHeader(headers []Field, name string) (uint64, bool) {
	var stack [maxHeaderValues]string
	vals := stack[:0]
	for i := range headers {
		if strings.EqualFold(headers[i].Name, name) {
			vals = append(vals, headers[i].Value)
		}
	}
	switch len(vals) {
	case 0:
		return 0, false
	case 1:
		return xxhash.Sum64String(vals[0]), true
	}
	sort.Strings(vals)
	var seed uint64
	var d xxhash.Digest
	for _, v := range vals {
		d.ResetWithSeed(seed)
		_, _ = d.WriteString(v)
		seed = d.Sum64()
	}
	return seed, true
}

// hashQuery hashes the first value of the parameter in the raw (not
// percent-decoded) query string; "?name" alone has the empty value.
func hashQuery(path, name string) (uint64, bool) {
	q := strings.IndexByte(path, '?')
	if q < 0 {
		return 0, false
	}
	rest := path[q+1:]
	for len(rest) > 0 {
		param := rest
		if amp := strings.IndexByte(rest, '&'); amp >= 0 {
			param, rest = rest[:amp], rest[amp+1:]
		} else {
			rest = ""
		}
		k, v := param, ""
		if eq := strings.IndexByte(param, '='); eq >= 0 {
			k, v = param[:eq], param[eq+1:]
		}
		if k == name {
			return xxhash.Sum64String(v), true
		}
	}
	return 0, false
}

// cookieValue finds the first cookie named name across all cookie headers,
// parsed like Envoy's Utility::parseCookieValue: split on ';', name starts
// after leading spaces, value after the first '=', surrounding double
// quotes removed.
func cookieValue(headers []Field, name string) (string, bool) {
	for i := range headers {
		if !strings.EqualFold(headers[i].Name, "cookie") {
			continue
		}
		rest := headers[i].Value
		for len(rest) > 0 {
			part := rest
			if semi := strings.IndexByte(rest, ';'); semi >= 0 {
				part, rest = rest[:semi], rest[semi+1:]
			} else {
				rest = ""
			}
			if part == "" {
				continue
			}
			eq := strings.IndexByte(part, '=')
			if eq < 0 {
				continue
			}
			start := 0
			for start < len(part) && part[start] == ' ' {
				start++
			}
			if start > eq {
				continue
			}
			if part[start:eq] != name {
				continue
			}
			v := part[eq+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// GeneratedCookie is the cookie value Envoy's router generates for a
// connection from source to local: the 16 lowercase hex digits of
// xxHash64(source.asString() + local.asString()).
func GeneratedCookie(source, local netip.AddrPort) (string, bool) {
	var hexv [16]byte
	if !generatedCookie(source, local, &hexv) {
		return "", false
	}
	return string(hexv[:]), true
}

func hashGeneratedCookie(source, local netip.AddrPort) (uint64, bool) {
	var hexv [16]byte
	if !generatedCookie(source, local, &hexv) {
		return 0, false
	}
	return xxhash.Sum64(hexv[:]), true
}

func generatedCookie(source, local netip.AddrPort, out *[16]byte) bool {
	if !source.IsValid() || !local.IsValid() {
		return false
	}
	var buf [128]byte
	b := appendEnvoyAddr(buf[:0], source)
	b = appendEnvoyAddr(b, local)
	h := xxhash.Sum64(b)
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		out[i] = digits[h&0xf]
		h >>= 4
	}
	return true
}

// appendEnvoyAddr appends Address::Instance::asString(): "ip:port" for
// IPv4, "[ip]:port" for IPv6.
func appendEnvoyAddr(b []byte, a netip.AddrPort) []byte {
	return a.AppendTo(b)
}
