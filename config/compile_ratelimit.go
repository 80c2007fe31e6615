package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RateLimitPlan is rateLimit (type Local) the way Envoy Gateway renders it
// for Envoy's local_ratelimit filter: the rule without clientSelectors is
// the route's default token bucket, every other rule is a descriptor. A
// request takes from every descriptor rule it matches, lowest fill rate
// first, and from the default bucket only when it matches none
// (always_consume_default_token_bucket: false).
type RateLimitPlan struct {
	// Default is the rule without clientSelectors; nil when there is none,
	// which Envoy Gateway renders as 4294967295 requests per second (a
	// bucket that never runs dry).
	Default *RulePlan
	// Rules are the descriptor rules in the order Envoy consumes them:
	// lowest fill rate (requests per unit) first, config order on ties.
	Rules []RulePlan
	// NoHeaders: the default rule has xRateLimitHeaders Off, so no response
	// of the route carries x-ratelimit-* (Envoy Gateway renders
	// enable_x_ratelimit_headers OFF for the route's local_ratelimit).
	NoHeaders bool
}

// UnlimitedHeader is x-ratelimit-limit and -remaining for a request under
// Envoy Gateway's implied default bucket (4294967295 per second, which
// refills faster than any client can drain it).
const UnlimitedHeader = "4294967295"

// RulePlan is one rateLimit.local.rules[i].
type RulePlan struct {
	Index    int
	Match    SelectorPlan // the rule's clientSelectors, all of them ANDed
	Requests uint32
	Unit     time.Duration
	// RequestCost and ResponseCost are tokens taken per request when it
	// arrives and when its response completes (cost.request/response.number).
	RequestCost  uint64
	ResponseCost uint64
	Shared       bool
	// Shadow counts the rule but lets requests over it through.
	Shadow bool
	// Distinct is true when some selector gives each distinct value
	// (header value, query parameter or source address) its own bucket.
	Distinct bool
	// Key identifies the rule's limit and selectors; shared rules with the
	// same Key share buckets process-wide.
	Key string
	// LimitHeader is Requests formatted for x-ratelimit-limit.
	LimitHeader string
}

// SelectorPlan is a rule's clientSelectors flattened as Envoy Gateway
// flattens them into one descriptor: every header, query parameter, path and
// source match holds, and any one of the methods does (Envoy Gateway renders
// one descriptor per method, all sharing the rule's limit).
type SelectorPlan struct {
	Headers []HeaderPlan
	Methods []MethodPlan
	Path    *PathPlan
	Source  *SourcePlan
	Query   []QueryPlan
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

// QueryPlan matches the first value of a query parameter, percent-decoded
// as Envoy decodes it.
type QueryPlan struct {
	Name   string
	Kind   MatchKind // Exact, Regex or Distinct
	Value  string
	Regex  *regexp.Regexp
	Invert bool
}

type MethodPlan struct {
	Value  string
	Invert bool
}

// PathPlan matches the whole :path, query included, as Envoy Gateway's
// ":path" header matcher does.
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
	plan := &RateLimitPlan{}
	for i, r := range rl.Local.Rules {
		rp, err := compileRule(i, &r)
		if err != nil {
			return nil, err
		}
		if o := r.XRateLimitHeaders; o != nil && *o != "Off" && *o != "DraftVersion03" {
			return nil, fmt.Errorf("rateLimit.local.rules[%d].xRateLimitHeaders: unknown value %q: allowed Off, DraftVersion03", i, *o)
		}
		if len(r.ClientSelectors) > 0 {
			plan.Rules = append(plan.Rules, rp)
			continue
		}
		path := fmt.Sprintf("rateLimit.local.rules[%d]", i)
		if plan.Default != nil {
			return nil, fmt.Errorf("%s: a second rule without clientSelectors (rules[%d] is one): Envoy Gateway allows one, the route's default limit", path, plan.Default.Index)
		}
		if rp.Shadow {
			return nil, fmt.Errorf("%s.shadowMode: not allowed on the rule without clientSelectors: Envoy Gateway renders that rule as the route's default bucket, which has no shadow mode", path)
		}
		plan.Default = &rp
		plan.NoHeaders = r.XRateLimitHeaders != nil && *r.XRateLimitHeaders == "Off"
	}
	// Envoy's local_ratelimit needs every descriptor's fill interval to be
	// a multiple of the default bucket's; Envoy Gateway refuses the policy
	// otherwise.
	if d := plan.Default; d != nil {
		for _, rp := range plan.Rules {
			if rp.Unit%d.Unit != 0 {
				return nil, fmt.Errorf("rateLimit.local.rules[%d].limit.unit: %s is not a multiple of the default rule's unit (rules[%d]: %s), as Envoy Gateway requires", rp.Index, unitName(rp.Unit), d.Index, unitName(d.Unit))
			}
		}
	}
	// Envoy consumes matched descriptors lowest fill rate first (and stops
	// at the first that refuses); a stable sort keeps config order on ties.
	sort.SliceStable(plan.Rules, func(i, j int) bool {
		a, b := &plan.Rules[i], &plan.Rules[j]
		return float64(a.Requests)*float64(b.Unit) < float64(b.Requests)*float64(a.Unit)
	})
	return plan, nil
}

func compileRule(i int, r *RateLimitRule) (RulePlan, error) {
	path := fmt.Sprintf("rateLimit.local.rules[%d]", i)
	rp := RulePlan{Index: i, Requests: r.Limit.Requests, RequestCost: 1, Shared: isTrue(r.Shared), Shadow: isTrue(r.ShadowMode)}
	for _, u := range unitDurations {
		if u.name == r.Limit.Unit {
			rp.Unit = u.d
		}
	}
	if rp.Unit == 0 {
		return rp, fmt.Errorf("%s.limit.unit: unknown unit %q: allowed Second, Minute, Hour, Day, Week, Month, Year", path, r.Limit.Unit)
	}
	rp.LimitHeader = strconv.FormatUint(uint64(r.Limit.Requests), 10)
	if r.Cost != nil {
		var err error
		if r.Cost.Request != nil {
			if rp.RequestCost, err = compileCost(r.Cost.Request, path+".cost.request"); err != nil {
				return rp, err
			}
		}
		if r.Cost.Response != nil {
			if rp.ResponseCost, err = compileCost(r.Cost.Response, path+".cost.response"); err != nil {
				return rp, err
			}
		}
	}
	for j, cs := range r.ClientSelectors {
		distinct, err := compileSelector(&rp.Match, cs, fmt.Sprintf("%s.clientSelectors[%d]", path, j))
		if err != nil {
			return rp, err
		}
		rp.Distinct = rp.Distinct || distinct
	}
	rp.Key = ruleKey(r)
	return rp, nil
}

func unitName(d time.Duration) string {
	for _, u := range unitDurations {
		if u.d == d {
			return u.name
		}
	}
	return d.String()
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

// compileSelector adds one clientSelectors[i] to the rule's flattened
// match sp and reports whether it gives distinct values their own buckets.
func compileSelector(sp *SelectorPlan, cs RateLimitSelectCondition, path string) (bool, error) {
	distinct := false
	if len(cs.Headers) == 0 && len(cs.Methods) == 0 && cs.Path == nil && cs.SourceCIDR == nil && len(cs.QueryParams) == 0 {
		return false, fmt.Errorf("%s: empty selector: set headers, methods, path, sourceCIDR or queryParams", path)
	}
	for k, h := range cs.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", path, k)
		if h.Name == "" {
			return false, fmt.Errorf("%s.name: required", hp)
		}
		if !validHeaderName(h.Name) {
			return false, headerNameError(hp+".name", h.Name)
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
				return false, fmt.Errorf("%s.value: required for type Exact", hp)
			}
			plan.Kind, plan.Value = MatchExact, value
		case "RegularExpression":
			if h.Value == nil {
				return false, fmt.Errorf("%s.value: required for type RegularExpression", hp)
			}
			re, err := compileRegex(value)
			if err != nil {
				return false, fmt.Errorf("%s.value: invalid regular expression %q: %v", hp, value, err)
			}
			plan.Kind, plan.Value, plan.Regex = MatchRegex, value, re
		case "Distinct":
			if h.Value != nil && value != "" {
				return false, fmt.Errorf("%s.value: must be unset for type Distinct, got %q", hp, value)
			}
			if plan.Invert {
				return false, fmt.Errorf("%s.invert: cannot be true for type Distinct", hp)
			}
			plan.Kind = MatchDistinct
			distinct = true
		default:
			return false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, RegularExpression, Distinct", hp, typ)
		}
		sp.Headers = append(sp.Headers, plan)
	}
	for k, m := range cs.Methods {
		ok := false
		for _, v := range httpMethods {
			ok = ok || v == m.Value
		}
		if !ok {
			return false, fmt.Errorf("%s.methods[%d].value: unknown method %q: allowed %s", path, k, m.Value, strings.Join(httpMethods, ", "))
		}
		sp.Methods = append(sp.Methods, MethodPlan{Value: m.Value, Invert: isTrue(m.Invert)})
	}
	if p := cs.Path; p != nil {
		pp := path + ".path"
		if sp.Path != nil {
			// Envoy Gateway would keep only the last one.
			return false, fmt.Errorf("%s: a second path match in one rule: allowed one per rule", pp)
		}
		plan := &PathPlan{Value: p.Value, Invert: isTrue(p.Invert)}
		typ := "PathPrefix"
		if p.Type != nil {
			typ = *p.Type
		}
		switch typ {
		case "Exact", "PathPrefix":
			if !strings.HasPrefix(p.Value, "/") {
				return false, fmt.Errorf("%s.value: %q must start with /", pp, p.Value)
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
				return false, fmt.Errorf("%s.value: invalid regular expression %q: %v", pp, p.Value, err)
			}
			plan.Kind, plan.Regex = MatchRegex, re
		default:
			return false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, PathPrefix, RegularExpression", pp, typ)
		}
		sp.Path = plan
	}
	if s := cs.SourceCIDR; s != nil {
		sp2 := path + ".sourceCIDR"
		if sp.Source != nil {
			// Envoy Gateway would keep only the last one.
			return false, fmt.Errorf("%s: a second sourceCIDR match in one rule: allowed one per rule", sp2)
		}
		prefix, err := netip.ParsePrefix(s.Value)
		if err != nil {
			return false, fmt.Errorf("%s.value: invalid CIDR %q: want e.g. 10.0.0.0/8 or 2001:db8::/32", sp2, s.Value)
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
				return false, fmt.Errorf("%s.invert: cannot be true for type Distinct", sp2)
			}
			plan.Distinct = true
			distinct = true
		default:
			return false, fmt.Errorf("%s.type: unknown type %q: allowed Exact, Distinct", sp2, typ)
		}
		sp.Source = plan
	}
	for k, q := range cs.QueryParams {
		qp := fmt.Sprintf("%s.queryParams[%d]", path, k)
		plan, err := compileQueryParam(q, qp)
		if err != nil {
			return false, err
		}
		distinct = distinct || plan.Kind == MatchDistinct
		sp.Query = append(sp.Query, plan)
	}
	return distinct, nil
}

// compileQueryParam follows Envoy Gateway: Exact and RegularExpression need
// a non-empty value, Distinct takes none and cannot be inverted.
func compileQueryParam(q QueryParamMatch, path string) (QueryPlan, error) {
	plan := QueryPlan{Name: q.Name, Invert: isTrue(q.Invert)}
	if q.Name == "" {
		return plan, fmt.Errorf("%s.name: required", path)
	}
	typ := "Exact"
	if q.Type != nil {
		typ = *q.Type
	}
	switch typ {
	case "Exact", "RegularExpression":
		if q.Value == nil || *q.Value == "" {
			return plan, fmt.Errorf("%s.value: required (not empty) for type %s", path, typ)
		}
		plan.Kind, plan.Value = MatchExact, *q.Value
		if typ == "RegularExpression" {
			re, err := compileRegex(*q.Value)
			if err != nil {
				return plan, fmt.Errorf("%s.value: invalid regular expression %q: %v", path, *q.Value, err)
			}
			plan.Kind, plan.Regex = MatchRegex, re
		}
	case "Distinct":
		if q.Value != nil {
			return plan, fmt.Errorf("%s.value: must be unset for type Distinct, got %q", path, *q.Value)
		}
		if plan.Invert {
			return plan, fmt.Errorf("%s.invert: cannot be true for type Distinct", path)
		}
		plan.Kind = MatchDistinct
	default:
		return plan, fmt.Errorf("%s.type: unknown type %q: allowed Exact, RegularExpression, Distinct", path, typ)
	}
	return plan, nil
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
	fmt.Fprintf(&b, "%d/%s/shadow:%v", r.Limit.Requests, r.Limit.Unit, isTrue(r.ShadowMode))
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
		for _, q := range cs.QueryParams {
			fmt.Fprintf(&b, "|q:%q:%q:%q:%v", q.Name, deref(q.Type), deref(q.Value), isTrue(q.Invert))
		}
	}
	return b.String()
}
