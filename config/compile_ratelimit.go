package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RateLimitPlan is rateLimit (type Local): rules in order, the first whose
// clientSelectors all match decides.
type RateLimitPlan struct {
	Rules []RulePlan
}

// RulePlan is one rateLimit.local.rules[i].
type RulePlan struct {
	Index     int
	Selectors []SelectorPlan // all must match; none = every request
	Requests  uint32
	Unit      time.Duration
	// RequestCost and ResponseCost are tokens taken per request when it
	// arrives and when its response completes (cost.request/response.number).
	RequestCost  uint64
	ResponseCost uint64
	Shared       bool
	// Distinct is true when some selector gives each distinct value
	// (header value or source address) its own bucket.
	Distinct bool
	// Key identifies the rule's limit and selectors; shared rules with the
	// same Key share buckets process-wide.
	Key string
	// LimitHeader is Requests formatted for x-ratelimit-limit.
	LimitHeader string
}

// SelectorPlan is one clientSelectors[i]: all headers match, any method
// matches, the path matches and the source matches (each part optional).
type SelectorPlan struct {
	Headers []HeaderPlan
	Methods []MethodPlan
	Path    *PathPlan
	Source  *SourcePlan
}

// MatchKind says how a value is compared.
type MatchKind uint8

const (
	MatchExact MatchKind = iota
	MatchPrefix
	MatchRegex
	MatchDistinct
)

type HeaderPlan struct {
	Name   string // lower case
	Kind   MatchKind
	Value  string
	Regex  *regexp.Regexp
	Invert bool
}

type MethodPlan struct {
	Value  string
	Invert bool
}

type PathPlan struct {
	Kind   MatchKind // Exact, Prefix (Gateway API PathPrefix: whole segments) or Regex
	Value  string
	Regex  *regexp.Regexp
	Invert bool
}

type SourcePlan struct {
	Prefix   netip.Prefix
	Distinct bool
	Invert   bool
}

var unitDurations = []struct {
	name string
	d    time.Duration
}{
	{"Second", time.Second},
	{"Minute", time.Minute},
	{"Hour", time.Hour},
	{"Day", 24 * time.Hour},
	{"Week", 7 * 24 * time.Hour},
	{"Month", 30 * 24 * time.Hour},
	{"Year", 365 * 24 * time.Hour},
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func compileRateLimit(rl *RateLimit) (*RateLimitPlan, error) {
	switch rl.Type {
	case "Local":
	case "Global":
		return nil, fmt.Errorf(`rateLimit.type: "Global" is enforced by Envoy's ratelimit filter and the rate limit service, not by this filter: allowed Local`)
	case "":
		return nil, fmt.Errorf(`rateLimit.type: required: allowed Local`)
	default:
		return nil, fmt.Errorf("rateLimit.type: unknown type %q: allowed Local", rl.Type)
	}
	if rl.Local == nil || len(rl.Local.Rules) == 0 {
		return nil, fmt.Errorf("rateLimit.local.rules: at least one rule is required for type Local")
	}
	plan := &RateLimitPlan{Rules: make([]RulePlan, len(rl.Local.Rules))}
	for i, r := range rl.Local.Rules {
		path := fmt.Sprintf("rateLimit.local.rules[%d]", i)
		rp := RulePlan{Index: i, Requests: r.Limit.Requests, RequestCost: 1, Shared: r.Shared != nil && *r.Shared}
		for _, u := range unitDurations {
			if u.name == r.Limit.Unit {
				rp.Unit = u.d
			}
		}
		if rp.Unit == 0 {
			return nil, fmt.Errorf("%s.limit.unit: unknown unit %q: allowed Second, Minute, Hour, Day, Week, Month, Year", path, r.Limit.Unit)
		}
		rp.LimitHeader = strconv.FormatUint(uint64(r.Limit.Requests), 10)
		if r.Cost != nil {
			var err error
			if r.Cost.Request != nil {
				if rp.RequestCost, err = compileCost(r.Cost.Request, path+".cost.request"); err != nil {
					return nil, err
				}
			}
			if r.Cost.Response != nil {
				if rp.ResponseCost, err = compileCost(r.Cost.Response, path+".cost.response"); err != nil {
					return nil, err
				}
			}
		}
		for j, cs := range r.ClientSelectors {
			sp, distinct, err := compileSelector(cs, fmt.Sprintf("%s.clientSelectors[%d]", path, j))
			if err != nil {
				return nil, err
			}
			rp.Distinct = rp.Distinct || distinct
			rp.Selectors = append(rp.Selectors, sp)
		}
		rp.Key = ruleKey(&r)
		plan.Rules[i] = rp
	}
	return plan, nil
}

func compileCost(c *RateLimitCostSpecifier, path string) (uint64, error) {
	switch c.From {
	case "Number":
		if c.Number == nil {
			return 0, fmt.Errorf("%s.number: required when from is Number", path)
		}
		return *c.Number, nil
	case "Metadata":
		return 0, fmt.Errorf("%s.from: %q is not supported by the filter: allowed Number", path, c.From)
	}
	return 0, fmt.Errorf("%s.from: unknown source %q: allowed Number", path, c.From)
}

func compileSelector(cs RateLimitSelectCondition, path string) (SelectorPlan, bool, error) {
	var sp SelectorPlan
	distinct := false
	if len(cs.Headers) == 0 && len(cs.Methods) == 0 && cs.Path == nil && cs.SourceCIDR == nil {
		return sp, false, fmt.Errorf("%s: empty selector: set headers, methods, path or sourceCIDR", path)
	}
	for k, h := range cs.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", path, k)
		if h.Name == "" {
			return sp, false, fmt.Errorf("%s.name: required", hp)
		}
		plan := HeaderPlan{Name: strings.ToLower(h.Name), Invert: isTrue(h.Invert)}
		typ := "Exact"
		if h.Type != nil {
			typ = *h.Type
		}
		value := ""
		if h.Value != nil {
			value = *h.Value
		}
		switch typ {
		case "Exact":
			if h.Value == nil {
				return sp, false, fmt.Errorf("%s.value: required for type Exact", hp)
			}
			plan.Kind, plan.Value = MatchExact, value
		case "RegularExpression":
			if h.Value == nil {
				return sp, false, fmt.Errorf("%s.value: required for type RegularExpression", hp)
			}
			re, err := compileRegex(value)
			if err != nil {
				return sp, false, fmt.Errorf("%s.value: invalid regular expression %q: %v", hp, value, err)
			}
			plan.Kind, plan.Value, plan.Regex = MatchRegex, value, re
		case "Distinct":
			if h.Value != nil && value != "" {
				return sp, false, fmt.Errorf("%s.value: must be unset for type Distinct, got %q", hp, value)
			}
			if plan.Invert {
				return sp, false, fmt.Errorf("%s.invert: cannot be true for type Distinct", hp)
			}
			plan.Kind = MatchDistinct
			distinct = true
		default:
			return sp, false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, RegularExpression, Distinct", hp, typ)
		}
		sp.Headers = append(sp.Headers, plan)
	}
	for k, m := range cs.Methods {
		ok := false
		for _, v := range httpMethods {
			ok = ok || v == m.Value
		}
		if !ok {
			return sp, false, fmt.Errorf("%s.methods[%d].value: unknown method %q: allowed %s", path, k, m.Value, strings.Join(httpMethods, ", "))
		}
		sp.Methods = append(sp.Methods, MethodPlan{Value: m.Value, Invert: isTrue(m.Invert)})
	}
	if p := cs.Path; p != nil {
		pp := path + ".path"
		plan := &PathPlan{Value: p.Value, Invert: isTrue(p.Invert)}
		typ := "PathPrefix"
		if p.Type != nil {
			typ = *p.Type
		}
		switch typ {
		case "Exact", "PathPrefix":
			if !strings.HasPrefix(p.Value, "/") {
				return sp, false, fmt.Errorf("%s.value: %q must start with /", pp, p.Value)
			}
			plan.Kind = MatchExact
			if typ == "PathPrefix" {
				plan.Kind = MatchPrefix
				if len(plan.Value) > 1 {
					plan.Value = strings.TrimSuffix(plan.Value, "/")
				}
			}
		case "RegularExpression":
			re, err := compileRegex(p.Value)
			if err != nil {
				return sp, false, fmt.Errorf("%s.value: invalid regular expression %q: %v", pp, p.Value, err)
			}
			plan.Kind, plan.Regex = MatchRegex, re
		default:
			return sp, false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, PathPrefix, RegularExpression", pp, typ)
		}
		sp.Path = plan
	}
	if s := cs.SourceCIDR; s != nil {
		sp2 := path + ".sourceCIDR"
		prefix, err := netip.ParsePrefix(s.Value)
		if err != nil {
			return sp, false, fmt.Errorf("%s.value: invalid CIDR %q: want e.g. 10.0.0.0/8 or 2001:db8::/32", sp2, s.Value)
		}
		plan := &SourcePlan{Prefix: prefix.Masked(), Invert: isTrue(s.Invert)}
		typ := "Exact"
		if s.Type != nil {
			typ = *s.Type
		}
		switch typ {
		case "Exact":
		case "Distinct":
			if plan.Invert {
				return sp, false, fmt.Errorf("%s.invert: cannot be true for type Distinct", sp2)
			}
			plan.Distinct = true
			distinct = true
		default:
			return sp, false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, Distinct", sp2, typ)
		}
		sp.Source = plan
	}
	return sp, distinct, nil
}

// compileRegex anchors the expression: Envoy's safe_regex matches the whole
// value, and so must this filter.
func compileRegex(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

func ruleKey(r *RateLimitRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%s", r.Limit.Requests, r.Limit.Unit)
	if r.Cost != nil {
		for _, c := range []*RateLimitCostSpecifier{r.Cost.Request, r.Cost.Response} {
			if c != nil && c.Number != nil {
				fmt.Fprintf(&b, "|cost:%s:%d", c.From, *c.Number)
			} else {
				b.WriteString("|cost:-")
			}
		}
	}
	for _, cs := range r.ClientSelectors {
		b.WriteString("|sel")
		for _, h := range cs.Headers {
			fmt.Fprintf(&b, "|h:%q:%q:%q:%v", strings.ToLower(h.Name), deref(h.Type), deref(h.Value), isTrue(h.Invert))
		}
		for _, m := range cs.Methods {
			fmt.Fprintf(&b, "|m:%q:%v", m.Value, isTrue(m.Invert))
		}
		if p := cs.Path; p != nil {
			fmt.Fprintf(&b, "|p:%q:%q:%v", deref(p.Type), p.Value, isTrue(p.Invert))
		}
		if s := cs.SourceCIDR; s != nil {
			fmt.Fprintf(&b, "|s:%q:%q:%v", deref(s.Type), s.Value, isTrue(s.Invert))
		}
	}
	return b.String()
}
