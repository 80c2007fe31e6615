package filter

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter/bucket"
)

// rateLimit (type Local): the first rule whose clientSelectors all match
// takes its cost from its bucket (one per rule, or one per distinct value
// for Distinct selectors); an empty bucket answers 429. Buckets live in the
// Go runtime the whole .so shares, so one limit holds across all of
// Envoy's worker threads.

type limiter struct {
	rules []*ruleState
}

// ruleState is one rule's buckets.
type ruleState struct {
	plan  *config.RulePlan
	limit bucket.Limit
	one   *bucket.Bucket // rules without Distinct selectors
	table *bucket.Table  // rules with them
}

// sharedRules holds the state of every `shared: true` rule in the process,
// keyed by the rule's identity, so all routes carrying the same rule (and
// configs reloaded later) use the same buckets.
var sharedRules struct {
	sync.Mutex
	m map[string]*ruleState
}

func newRuleState(p *config.RulePlan, o *Options) *ruleState {
	rs := &ruleState{plan: p, limit: bucket.NewLimit(uint64(p.Requests), p.Unit)}
	if p.Distinct {
		rs.table = bucket.NewTable(o.DistinctKeys)
	} else {
		rs.one = new(bucket.Bucket)
	}
	return rs
}

func newLimiter(p *config.RateLimitPlan, o *Options) *limiter {
	l := &limiter{rules: make([]*ruleState, len(p.Rules))}
	for i := range p.Rules {
		rp := &p.Rules[i]
		if !rp.Shared {
			l.rules[i] = newRuleState(rp, o)
			continue
		}
		sharedRules.Lock()
		if sharedRules.m == nil {
			sharedRules.m = make(map[string]*ruleState)
		}
		rs := sharedRules.m[rp.Key]
		if rs == nil {
			rs = newRuleState(rp, o)
			sharedRules.m[rp.Key] = rs
		}
		sharedRules.Unlock()
		l.rules[i] = rs
	}
	return l
}

var limitedBody = "local_rate_limited"

func (s *Stream) rateLimit(req Request, now int64) (Action, bool) {
	l := s.cfg.limiter
	if l == nil {
		return Action{}, false
	}
	var m matchState
	for _, rs := range l.rules {
		b := m.match(rs, req, s, now)
		if b == nil {
			continue
		}
		ok, remaining, reset := b.Take(&rs.limit, now, rs.plan.RequestCost)
		s.rlRule, s.rlBucket, s.rlRemaining, s.rlAdmitted = rs, b, remaining, ok
		s.rlResetSec = int64((reset + 999_999_999) / 1_000_000_000)
		if ok {
			s.cfg.inc(RateLimitOK)
			return Action{}, false
		}
		s.cfg.inc(RateLimitOverLimit)
		r := &Reply{Status: 429, GRPCStatus: -1, Body: limitedBody, ContentType: "text/plain",
			Headers: s.rateLimitHeaderList(), Details: "local_rate_limited"}
		if s.isGRPC(req) {
			r.GRPCStatus, r.ContentType = 14, "" // UNAVAILABLE, as Envoy's local rate limit
		}
		return s.reply(r), true
	}
	return Action{}, false
}

func (s *Stream) rateLimitHeaderList() [][2]string {
	return [][2]string{
		{"x-ratelimit-limit", s.rlRule.plan.LimitHeader},
		{"x-ratelimit-remaining", strconv.FormatInt(s.rlRemaining, 10)},
		{"x-ratelimit-reset", strconv.FormatInt(s.rlResetSec, 10)},
	}
}

func (s *Stream) rateLimitResponseHeaders(resp ResponseHeaders) {
	if s.rlRule == nil {
		return
	}
	resp.SetHeader("x-ratelimit-limit", s.rlRule.plan.LimitHeader)
	resp.SetHeader("x-ratelimit-remaining", s.fmtInt(0, s.rlRemaining))
	resp.SetHeader("x-ratelimit-reset", s.fmtInt(24, s.rlResetSec))
}

// rateLimitComplete takes the response cost of an admitted request.
func (s *Stream) rateLimitComplete() {
	if s.rlRule == nil || !s.rlAdmitted || s.rlRule.plan.ResponseCost == 0 {
		return
	}
	s.rlBucket.Charge(&s.rlRule.limit, s.cfg.opts.Now(), s.rlRule.plan.ResponseCost)
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
}

func (m *matchState) getMethod(req Request) string {
	if !m.haveMethod {
		m.method, m.haveMethod = req.Method(), true
	}
	return m.method
}

func (m *matchState) getPath(req Request) string {
	if !m.havePath {
		p := req.Path()
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		m.path, m.havePath = p, true
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
// when the rule does not apply.
func (m *matchState) match(rs *ruleState, req Request, s *Stream, now int64) *bucket.Bucket {
	m.keyLen, m.keyParts, m.keyOver = 0, 0, nil
	for i := range rs.plan.Selectors {
		if !m.selector(&rs.plan.Selectors[i], req) {
			return nil
		}
	}
	if rs.table == nil {
		return rs.one
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
			ok = p.Value == "/" || strings.HasPrefix(path, p.Value) && (len(path) == len(p.Value) || path[len(p.Value)] == '/')
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
	return true
}
