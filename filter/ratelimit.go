package filter

import (
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter/bucket"
)

// rateLimit (type Local), as Envoy Gateway renders it for Envoy's
// local_ratelimit filter: every rule with clientSelectors is a descriptor,
// the rule without is the route's default bucket. A request takes from
// every descriptor it matches, lowest fill rate first, and is refused by
// the first that is empty (unless that rule is in shadow mode, which lets it
// through); only a request that matches no descriptor takes from the default
// bucket. The x-ratelimit-* headers describe the bucket that refused the
// request, else the first matched descriptor, else the default bucket.
// Buckets live in the Go runtime the whole .so shares, so one limit holds
// across all of Envoy's worker threads.

type limiter struct {
	def   *ruleState   // nil: Envoy Gateway's implied default, which never refuses
	rules []*ruleState // descriptor rules, lowest fill rate first
}

// ruleState is one rule's buckets.
type ruleState struct {
	plan  *config.RulePlan
	limit bucket.Limit
	one   *bucket.Bucket // rules without Distinct selectors
	table *bucket.Table  // rules with them
}

var limitedBody = "local_rate_limited"

// rlTake is one bucket a request takes from.
type rlTake struct {
	rs *ruleState
	b  *bucket.Bucket
}

// rlState is a stream's rate-limit outcome.
type rlState struct {
	matched [4]rlTake // the descriptors the request matched, in take order
	n       int
	more    []rlTake // past len(matched); rare
	pending bool     // matched, not taken yet: the request body is still coming
	taken   int      // how many of the matches were taken from (response cost)

	// The bucket the x-ratelimit-* headers describe; hdr == nil with
	// unlimited set means Envoy Gateway's implied default.
	hdr       rlTake
	unlimited bool
}

func (r *rlState) add(t rlTake) {
	if r.n < len(r.matched) {
		r.matched[r.n] = t
	} else {
		r.more = append(r.more, t)
	}
	r.n++
}

func (r *rlState) at(i int) *rlTake {
	if i < len(r.matched) {
		return &r.matched[i]
	}
	return &r.more[i-len(r.matched)]
}

// rateLimitMatch finds the descriptors the request matches. Envoy Gateway
// runs the local rate limit after the request buffer, so a request whose
// body is still coming takes its tokens only once the body is complete
// (and a 413 costs none).
func (s *Stream) rateLimitMatch(req Request, now int64) (Action, bool) {
	l := s.cfg.limiter
	if l == nil {
		return Action{}, false
	}
	m := matchState{decoded: &s.qbuf}
	for _, rs := range l.rules {
		if b, own := m.match(rs, req, now); b != nil {
			s.rl.add(rlTake{rs, b})
			if !own {
				s.cfg.inc(RateLimitTableFull)
			}
		}
	}
	if s.buffering {
		s.rl.pending = true
		return Action{}, false
	}
	return s.rateLimitTake(req, now)
}

// rateLimitTake takes the request's tokens (Envoy's LocalRateLimiterImpl:
// each matched descriptor in fill-rate order, the default bucket only when
// none matched).
func (s *Stream) rateLimitTake(req Request, now int64) (Action, bool) {
	s.rl.pending = false
	l := s.cfg.limiter
	if s.rl.n == 0 {
		if l.def == nil {
			s.rl.unlimited = true
			s.cfg.inc(RateLimitOK)
			return Action{}, false
		}
		s.rl.add(rlTake{l.def, l.def.one})
	}
	for i := 0; i < s.rl.n; i++ {
		t := s.rl.at(i)
		if ok, _, _ := t.b.Take(&t.rs.limit, now, t.rs.plan.RequestCost, s.cfg.opts.Now); ok {
			s.rl.taken = i + 1
			continue
		}
		s.rl.hdr = *t
		if t.rs.plan.Shadow {
			s.cfg.inc(RateLimitShadow)
			return Action{}, false
		}
		s.cfg.inc(RateLimitOverLimit)
		r := &Reply{Status: 429, GRPCStatus: -1, Body: limitedBody, ContentType: "text/plain", Details: "local_rate_limited"}
		if !s.cfg.c.RateLimit.NoHeaders {
			r.Headers = s.rateLimitHeaderList(now)
		}
		if s.isGRPC(req) {
			r.GRPCStatus, r.ContentType = 14, "" // UNAVAILABLE, as Envoy's local rate limit
		}
		return s.localReply(r), true
	}
	s.rl.hdr = s.rl.matched[0]
	s.cfg.inc(RateLimitOK)
	return Action{}, false
}

// rateLimitState is the state the x-ratelimit-* headers report, read when
// they are written, as Envoy's filter reads it in encodeHeaders.
func (s *Stream) rateLimitState(now int64) (limit string, remaining, resetSec int64) {
	t := &s.rl.hdr
	rem, next := t.b.State(&t.rs.limit, now)
	ms := int64(next) / 1e6 // Envoy: whole milliseconds, then seconds rounded up
	return t.rs.plan.LimitHeader, rem, (ms + 999) / 1000
}

func (s *Stream) rateLimitHeaderList(now int64) [][2]string {
	limit, rem, reset := s.rateLimitState(now)
	return [][2]string{
		{"x-ratelimit-limit", limit},
		{"x-ratelimit-remaining", strconv.FormatInt(rem, 10)},
		{"x-ratelimit-reset", strconv.FormatInt(reset, 10)},
	}
}

// RateLimitHeaders writes the x-ratelimit-* headers the response is due
// into out and returns how many (0 or 3), as of now. For hosts with
// Options.HostAddsRateLimitHeaders, which add them to every response they
// do not pass to OnResponseHeaders; ask after the request's last
// callback. The values alias the Stream's scratch memory until its next
// call.
func (s *Stream) RateLimitHeaders(out *[3][2]string) int {
	switch {
	case s.cfg == nil || s.replied || s.failed || s.cfg.c.RateLimit == nil || s.cfg.c.RateLimit.NoHeaders:
		return 0
	case s.rl.unlimited:
		*out = [3][2]string{{"x-ratelimit-limit", config.UnlimitedHeader}, {"x-ratelimit-remaining", config.UnlimitedHeader}, {"x-ratelimit-reset", "0"}}
	case s.rl.hdr.rs != nil:
		limit, rem, reset := s.rateLimitState(s.cfg.opts.Now())
		*out = [3][2]string{{"x-ratelimit-limit", limit}, {"x-ratelimit-remaining", s.fmtInt(0, rem)}, {"x-ratelimit-reset", s.fmtInt(24, reset)}}
	default:
		return 0
	}
	return 3
}

func (s *Stream) rateLimitResponseHeaders(resp ResponseHeaders) {
	if rl := s.cfg.c.RateLimit; rl == nil || rl.NoHeaders {
		return
	}
	switch {
	case s.rl.unlimited:
		resp.SetHeader("x-ratelimit-limit", config.UnlimitedHeader)
		resp.SetHeader("x-ratelimit-remaining", config.UnlimitedHeader)
		resp.SetHeader("x-ratelimit-reset", "0")
	case s.rl.hdr.rs != nil:
		limit, rem, reset := s.rateLimitState(s.cfg.opts.Now())
		resp.SetHeader("x-ratelimit-limit", limit)
		resp.SetHeader("x-ratelimit-remaining", s.fmtInt(0, rem))
		resp.SetHeader("x-ratelimit-reset", s.fmtInt(24, reset))
	}
}

// rateLimitComplete takes the response cost from the buckets the request
// took from.
func (s *Stream) rateLimitComplete() {
	if s.rl.taken == 0 {
		return
	}
	var now int64
	for i := 0; i < s.rl.taken; i++ {
		t := s.rl.at(i)
		if c := t.rs.plan.ResponseCost; c > 0 {
			if now == 0 {
				now = s.cfg.opts.Now()
			}
			t.b.Charge(&t.rs.limit, now, c)
		}
	}
}

// chargesResponse reports whether a bucket the request took from charges a
// response cost at stream end.
func (r *rlState) chargesResponse() bool {
	for i := 0; i < r.taken; i++ {
		if r.at(i).rs.plan.ResponseCost > 0 {
			return true
		}
	}
	return false
}

// matchState caches what rules fetched from the request, so several rules
// cost one fetch each, and builds Distinct keys without allocating.
type matchState struct {
	method     string
	path       string
	haveMethod bool
	havePath   bool
	haveAddr   bool
	addr       netip.Addr
	key        [128]byte
	keyLen     int
	keyParts   int
	keyOver    []byte // for keys longer than key
	// decoded holds a percent-decoded query parameter value. It lives in
	// the Stream (on the heap already): a value handed to regexp escapes,
	// and matchState must stay on the stack.
	decoded *[128]byte
}

func (m *matchState) getMethod(req Request) string {
	if !m.haveMethod {
		m.method, m.haveMethod = req.Method(), true
	}
	return m.method
}

// getPath is the whole :path, query included: Envoy Gateway matches
// paths with a header matcher on ":path".
func (m *matchState) getPath(req Request) string {
	if !m.havePath {
		m.path, m.havePath = req.Path(), true
	}
	return m.path
}

// getAddr parses the source address once (IPv4-mapped IPv6 unmapped).
func (m *matchState) getAddr(req Request) netip.Addr {
	if !m.haveAddr {
		m.haveAddr = true
		a := req.SourceAddress()
		if ap, err := netip.ParseAddrPort(a); err == nil {
			m.addr = ap.Addr().Unmap()
		} else if ad, err := netip.ParseAddr(a); err == nil {
			m.addr = ad.Unmap()
		}
	}
	return m.addr
}

// addAddrKey appends the canonical address (no port) as a Distinct key
// part, so one client is one key however Envoy spells its address.
func (m *matchState) addAddrKey(a netip.Addr) {
	var buf [64]byte
	m.addKey(a.AppendTo(buf[:0]))
}

// addKey appends one part of a Distinct key.
func (m *matchState) addKey(part []byte) {
	if m.keyOver == nil && m.keyLen+len(part)+1 <= len(m.key) {
		if m.keyParts > 0 {
			m.key[m.keyLen] = 0
			m.keyLen++
		}
		m.keyLen += copy(m.key[m.keyLen:], part)
	} else {
		if m.keyOver == nil {
			m.keyOver = append([]byte(nil), m.key[:m.keyLen]...)
		}
		if m.keyParts > 0 {
			m.keyOver = append(m.keyOver, 0)
		}
		m.keyOver = append(m.keyOver, part...)
	}
	m.keyParts++
}

func (m *matchState) keyString() string {
	if m.keyOver != nil {
		return string(m.keyOver)
	}
	return unsafe.String(&m.key[0], m.keyLen)
}

// match returns the bucket the request takes from under rule rs, or nil
// when the rule does not apply; own is false for a Distinct key that found
// its table full and shares the table's overflow bucket.
func (m *matchState) match(rs *ruleState, req Request, now int64) (b *bucket.Bucket, own bool) {
	m.keyLen, m.keyParts, m.keyOver = 0, 0, nil
	if !m.selector(&rs.plan.Match, req) {
		return nil, true
	}
	if rs.table == nil {
		return rs.one, true
	}
	return rs.table.Get(m.keyString(), now)
}

func (m *matchState) selector(sp *config.SelectorPlan, req Request) bool {
	for i := range sp.Headers {
		h := &sp.Headers[i]
		v, ok := req.Header(h.Name)
		switch h.Kind {
		case config.MatchDistinct:
			if !ok {
				return false
			}
			m.addKey(unsafe.Slice(unsafe.StringData(v), len(v))) // read only
		case config.MatchExact:
			if (ok && v == h.Value) == h.Invert {
				return false
			}
		case config.MatchRegex:
			if (ok && h.Regex.MatchString(v)) == h.Invert {
				return false
			}
		}
	}
	if len(sp.Methods) > 0 {
		method := m.getMethod(req)
		any := false
		for _, mp := range sp.Methods {
			if (method == mp.Value) != mp.Invert {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	if p := sp.Path; p != nil {
		path := m.getPath(req)
		var ok bool
		switch p.Kind {
		case config.MatchExact:
			ok = path == p.Value
		case config.MatchPrefix:
			ok = p.Value == "/" || strings.HasPrefix(path, p.Value) && prefixEnds(path, len(p.Value))
		case config.MatchRegex:
			ok = p.Regex.MatchString(path)
		}
		if ok == p.Invert {
			return false
		}
	}
	if src := sp.Source; src != nil {
		addr := m.getAddr(req)
		in := addr.IsValid() && src.Prefix.Contains(addr)
		if in == src.Invert {
			return false
		}
		if src.Distinct {
			m.addAddrKey(addr)
		}
	}
	for i := range sp.Query {
		q := &sp.Query[i]
		v, ok := m.queryParam(m.getPath(req), q.Name)
		switch q.Kind {
		case config.MatchDistinct:
			if !ok {
				return false
			}
			m.addKey(unsafe.Slice(unsafe.StringData(v), len(v)))
		case config.MatchExact:
			if (ok && v == q.Value) == q.Invert {
				return false
			}
		case config.MatchRegex:
			if (ok && q.Regex.MatchString(v)) == q.Invert {
				return false
			}
		}
	}
	return true
}

// prefixEnds reports whether a Gateway API PathPrefix of length n ends a
// segment of path: Envoy Gateway's regex prefix(/.*|\?.*|#.*|;.*|$).
func prefixEnds(path string, n int) bool {
	if n == len(path) {
		return true
	}
	switch path[n] {
	case '/', '?', '#', ';':
		return true
	}
	return false
}

// queryParam returns the first value of query parameter name in path,
// names and values percent-decoded as Envoy's parseAndDecodeQueryString
// does. The value may alias m.decoded: it is valid until the next call.
func (m *matchState) queryParam(path, name string) (string, bool) {
	i := strings.IndexByte(path, '?')
	if i < 0 {
		return "", false
	}
	q := path[i+1:]
	for len(q) > 0 {
		param := q
		if j := strings.IndexByte(q, '&'); j >= 0 {
			param, q = q[:j], q[j+1:]
		} else {
			q = ""
		}
		k, v := param, ""
		if j := strings.IndexByte(param, '='); j >= 0 {
			k, v = param[:j], param[j+1:]
		}
		if !decodedEquals(k, name) {
			continue
		}
		if strings.IndexByte(v, '%') < 0 {
			return v, true
		}
		buf := m.decoded[:0]
		if len(v) > cap(buf) {
			buf = make([]byte, 0, len(v))
		}
		buf = percentDecode(buf, v)
		return unsafe.String(unsafe.SliceData(buf), len(buf)), true
	}
	return "", false
}

// percentDecode appends s with %XX sequences decoded, exactly as Envoy's
// PercentEncoding::decode (which leaves a '%' in the last two bytes alone,
// and '+' as it is).
func percentDecode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

// decodedEquals compares percent-decoded s with want without allocating.
func decodedEquals(s, want string) bool {
	if strings.IndexByte(s, '%') < 0 {
		return s == want
	}
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		if j >= len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
