package filter

import (
	"runtime"
	"strconv"
	"sync"
	"weak"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter/bucket"
)

// knownRules holds, weakly, every rule state that a later parse may find
// again: a `shared: true` rule by its content (one state for every route
// carrying it), and a rule of a config that names its route by route,
// content and position among identical rules. Envoy parses a route's
// config again on every RDS push while the old one still serves, so a
// rule that did not change finds its buckets; a changed rule has another
// key and starts fresh. An entry goes once no config holds its state, so
// removed routes free their tables.
var knownRules struct {
	sync.Mutex
	m map[string]weak.Pointer[ruleState]
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

// ruleStateFor returns the state of rule p, found again by key when key is
// not empty.
func ruleStateFor(p *config.RulePlan, o *Options, key string) *ruleState {
	if key == "" {
		return newRuleState(p, o)
	}
	knownRules.Lock()
	defer knownRules.Unlock()
	if w, ok := knownRules.m[key]; ok {
		if rs := w.Value(); rs != nil {
			return rs
		}
	}
	rs := newRuleState(p, o)
	if knownRules.m == nil {
		knownRules.m = make(map[string]weak.Pointer[ruleState])
	}
	knownRules.m[key] = weak.Make(rs)
	runtime.AddCleanup(rs, forgetRule, key)
	return rs
}

func forgetRule(key string) {
	knownRules.Lock()
	defer knownRules.Unlock()
	if w, ok := knownRules.m[key]; ok && w.Value() == nil {
		delete(knownRules.m, key)
	}
}

// newLimiter builds the state of plan p for route (empty: a config that
// names no route; its non-shared rules start fresh).
func newLimiter(p *config.RateLimitPlan, o *Options, route string) *limiter {
	l := &limiter{rules: make([]*ruleState, len(p.Rules))}
	seen := map[string]int{} // identical rules of one config each keep their own state
	key := func(rp *config.RulePlan) string {
		switch {
		case rp.Shared:
			return "shared\x00" + rp.Key
		case route == "":
			return ""
		}
		n := seen[rp.Key]
		seen[rp.Key]++
		return "route\x00" + route + "\x00" + strconv.Itoa(n) + "\x00" + strconv.Itoa(o.DistinctKeys) + "\x00" + rp.Key
	}
	if p.Default != nil {
		l.def = ruleStateFor(p.Default, o, key(p.Default))
	}
	for i := range p.Rules {
		l.rules[i] = ruleStateFor(&p.Rules[i], o, key(&p.Rules[i]))
	}
	return l
}

// routeOf is the route a compiled config names (config.Policy.Route).
func routeOf(c *config.Compiled) string {
	if c.Source == nil {
		return ""
	}
	return c.Source.Route
}
