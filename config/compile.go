package config

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Compiled is one route's config validated and prepared for the request
// path: durations, sizes, CIDRs and regexes are parsed, header values the
// filter sends are pre-formatted. It is immutable and safe to share.
// A nil feature pointer means the feature is not configured.
type Compiled struct {
	Source *Policy

	RateLimit   *RateLimitPlan
	Fault       *FaultPlan
	Overrides   []OverridePlan
	Buffer      *BufferPlan
	Retry       *RetryPlan
	Timeout     *TimeoutPlan
	RetryBudget *BudgetPlan
	Debug       *DebugPlan
}

// Load parses and compiles JSON config in one step.
func Load(data []byte) (*Compiled, error) {
	p, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(p)
}

// Compile validates p and prepares it. Every error names the field path,
// the bad value and what is allowed.
func Compile(p *Policy) (*Compiled, error) {
	if p == nil {
		p = &Policy{}
	}
	c := &Compiled{Source: p}
	var err error
	if p.RateLimit != nil {
		if c.RateLimit, err = compileRateLimit(p.RateLimit); err != nil {
			return nil, err
		}
	}
	if p.FaultInjection != nil {
		if c.Fault, err = compileFault(p.FaultInjection); err != nil {
			return nil, err
		}
	}
	if p.ResponseOverride != nil {
		if c.Overrides, err = compileOverrides(p.ResponseOverride); err != nil {
			return nil, err
		}
	}
	if p.RequestBuffer != nil {
		if c.Buffer, err = compileBuffer(p.RequestBuffer); err != nil {
			return nil, err
		}
	}
	if p.Retry != nil {
		if c.Retry, err = compileRetry(p.Retry); err != nil {
			return nil, err
		}
	}
	if p.Timeout != nil {
		if c.Timeout, err = compileTimeout(p.Timeout); err != nil {
			return nil, err
		}
	}
	if p.RetryBudget != nil {
		if c.RetryBudget, err = compileBudget(p.RetryBudget); err != nil {
			return nil, err
		}
	}
	if p.Debug != nil && p.Debug.PanicHeader != "" {
		c.Debug = &DebugPlan{PanicHeader: strings.ToLower(p.Debug.PanicHeader)}
	}
	return c, nil
}

// Merge returns the config for a route whose per-route config is child under
// filter-level defaults parent: each top-level feature the child sets
// replaces the parent's, the rest come from the parent. Either may be nil.
func Merge(parent, child *Compiled) *Compiled {
	switch {
	case parent == nil:
		return child
	case child == nil:
		return parent
	}
	m := *parent
	var src, cs Policy
	if parent.Source != nil {
		src = *parent.Source
	}
	if child.Source != nil {
		cs = *child.Source
	}
	if child.RateLimit != nil {
		m.RateLimit, src.RateLimit = child.RateLimit, cs.RateLimit
	}
	if child.Fault != nil {
		m.Fault, src.FaultInjection = child.Fault, cs.FaultInjection
	}
	if child.Overrides != nil {
		m.Overrides, src.ResponseOverride = child.Overrides, cs.ResponseOverride
	}
	if child.Buffer != nil {
		m.Buffer, src.RequestBuffer = child.Buffer, cs.RequestBuffer
	}
	if child.Retry != nil {
		m.Retry, src.Retry = child.Retry, cs.Retry
	}
	if child.Timeout != nil {
		m.Timeout, src.Timeout = child.Timeout, cs.Timeout
	}
	if child.RetryBudget != nil {
		m.RetryBudget, src.RetryBudget = child.RetryBudget, cs.RetryBudget
	}
	if child.Debug != nil {
		m.Debug, src.Debug = child.Debug, cs.Debug
	}
	m.Source = &src
	return &m
}

// ---- rate limit ----

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

// ---- fault injection ----

// FaultPlan is faultInjection. Thresholds are percentages scaled to
// 1<<32: a draw r (uniform uint32) hits when uint64(r) < threshold.
type FaultPlan struct {
	Delay          time.Duration
	DelayThreshold uint64 // 0 when there is no delay
	HasDelay       bool

	HasAbort       bool
	AbortThreshold uint64
	AbortHTTP      int // 0 when the abort is gRPC
	AbortGRPC      int // -1 when the abort is HTTP
}

// Always is the threshold of a 100% percentage.
const Always = uint64(1) << 32

func percentThreshold(p *float32, path string) (uint64, error) {
	if p == nil {
		return Always, nil
	}
	v := float64(*p)
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("%s: %v out of range: allowed 0 to 100", path, *p)
	}
	return uint64(math.Round(v / 100 * float64(Always))), nil
}

func compileFault(f *FaultInjection) (*FaultPlan, error) {
	if f.Delay == nil && f.Abort == nil {
		return nil, fmt.Errorf("faultInjection: set delay, abort or both")
	}
	plan := &FaultPlan{AbortGRPC: -1}
	var err error
	if d := f.Delay; d != nil {
		if d.FixedDelay == nil {
			return nil, fmt.Errorf("faultInjection.delay.fixedDelay: required")
		}
		if plan.Delay, err = ParseDuration(*d.FixedDelay); err != nil {
			return nil, fmt.Errorf("faultInjection.delay.fixedDelay: %v", err)
		}
		if plan.DelayThreshold, err = percentThreshold(d.Percentage, "faultInjection.delay.percentage"); err != nil {
			return nil, err
		}
		plan.HasDelay = true
	}
	if a := f.Abort; a != nil {
		switch {
		case a.HTTPStatus != nil && a.GrpcStatus != nil:
			return nil, fmt.Errorf("faultInjection.abort: set one of httpStatus and grpcStatus, not both")
		case a.HTTPStatus != nil:
			if *a.HTTPStatus < 200 || *a.HTTPStatus > 599 {
				return nil, fmt.Errorf("faultInjection.abort.httpStatus: %d out of range: allowed 200 to 599", *a.HTTPStatus)
			}
			plan.AbortHTTP = int(*a.HTTPStatus)
		case a.GrpcStatus != nil:
			if *a.GrpcStatus < 0 || *a.GrpcStatus > 16 {
				return nil, fmt.Errorf("faultInjection.abort.grpcStatus: %d out of range: allowed 0 to 16", *a.GrpcStatus)
			}
			plan.AbortGRPC = int(*a.GrpcStatus)
		default:
			return nil, fmt.Errorf("faultInjection.abort: set httpStatus or grpcStatus")
		}
		if plan.AbortThreshold, err = percentThreshold(a.Percentage, "faultInjection.abort.percentage"); err != nil {
			return nil, err
		}
		plan.HasAbort = true
	}
	return plan, nil
}

// ---- response override ----

// OverridePlan is one responseOverride[i].
type OverridePlan struct {
	Index  int
	Ranges []StatusRange // upstream statuses that match, inclusive
	// Status replaces the upstream status; 0 keeps it.
	Status      int
	ContentType string
	Body        string
}

type StatusRange struct{ Lo, Hi int }

// Matches reports whether an upstream status matches this override.
func (o *OverridePlan) Matches(status int) bool {
	for _, r := range o.Ranges {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

func compileOverrides(list []ResponseOverride) ([]OverridePlan, error) {
	out := make([]OverridePlan, 0, len(list))
	for i, o := range list {
		path := fmt.Sprintf("responseOverride[%d]", i)
		plan := OverridePlan{Index: i}
		if len(o.Match.StatusCodes) == 0 {
			return nil, fmt.Errorf("%s.match.statusCodes: at least one status code or range is required", path)
		}
		for j, sc := range o.Match.StatusCodes {
			sp := fmt.Sprintf("%s.match.statusCodes[%d]", path, j)
			typ := "Value"
			if sc.Type != nil {
				typ = *sc.Type
			}
			switch typ {
			case "Value":
				if sc.Value == nil {
					return nil, fmt.Errorf("%s.value: required for type Value", sp)
				}
				if sc.Range != nil {
					return nil, fmt.Errorf("%s.range: must be unset for type Value", sp)
				}
				if err := checkStatus(*sc.Value, sp+".value"); err != nil {
					return nil, err
				}
				plan.Ranges = append(plan.Ranges, StatusRange{*sc.Value, *sc.Value})
			case "Range":
				if sc.Range == nil {
					return nil, fmt.Errorf("%s.range: required for type Range", sp)
				}
				if sc.Value != nil {
					return nil, fmt.Errorf("%s.value: must be unset for type Range", sp)
				}
				if err := checkStatus(sc.Range.Start, sp+".range.start"); err != nil {
					return nil, err
				}
				if err := checkStatus(sc.Range.End, sp+".range.end"); err != nil {
					return nil, err
				}
				if sc.Range.End < sc.Range.Start {
					return nil, fmt.Errorf("%s.range: end %d is below start %d", sp, sc.Range.End, sc.Range.Start)
				}
				plan.Ranges = append(plan.Ranges, StatusRange{sc.Range.Start, sc.Range.End})
			default:
				return nil, fmt.Errorf("%s.type: unknown type %q: allowed Value, Range", sp, typ)
			}
		}
		if o.Response == nil {
			return nil, fmt.Errorf("%s.response: required", path)
		}
		r := o.Response
		if r.StatusCode != nil {
			if err := checkStatus(*r.StatusCode, path+".response.statusCode"); err != nil {
				return nil, err
			}
			plan.Status = *r.StatusCode
		}
		plan.ContentType = deref(r.ContentType)
		if b := r.Body; b != nil {
			typ := "Inline"
			if b.Type != nil {
				typ = *b.Type
			}
			switch typ {
			case "Inline":
				if b.Inline == nil {
					return nil, fmt.Errorf("%s.response.body.inline: required for type Inline", path)
				}
				plan.Body = *b.Inline
			case "ValueRef":
				return nil, fmt.Errorf("%s.response.body.type: ValueRef must be resolved to Inline by `btp render` before the config reaches Envoy", path)
			default:
				return nil, fmt.Errorf("%s.response.body.type: unknown type %q: allowed Inline", path, typ)
			}
		}
		out = append(out, plan)
	}
	return out, nil
}

func checkStatus(v int, path string) error {
	if v < 100 || v > 599 {
		return fmt.Errorf("%s: status %d out of range: allowed 100 to 599", path, v)
	}
	return nil
}

// ---- request buffer ----

type BufferPlan struct {
	Limit int64 // bytes
}

func compileBuffer(b *RequestBuffer) (*BufferPlan, error) {
	n, err := ParseQuantity(b.Limit)
	if err != nil {
		return nil, fmt.Errorf("requestBuffer.limit: %v", err)
	}
	if n <= 0 {
		return nil, fmt.Errorf("requestBuffer.limit: %q: must be above zero", b.Limit)
	}
	return &BufferPlan{Limit: n}, nil
}

// ---- retry and timeout ----

// RetryPlan is retry, pre-formatted as the router's request headers.
type RetryPlan struct {
	NumRetries         int
	MaxRetries         string // x-envoy-max-retries
	RetryOn            string // x-envoy-retry-on ("" = not sent)
	GRPCRetryOn        string // x-envoy-retry-grpc-on ("" = not sent)
	StatusCodes        string // x-envoy-retriable-status-codes ("" = not sent)
	PerTryTimeoutMS    string // x-envoy-upstream-rq-per-try-timeout-ms ("" = not sent)
	AllowNonIdempotent bool
}

// Envoy Gateway's defaults when retry is set without retryOn / numRetries.
const (
	DefaultNumRetries = 2
	defaultRetryOn    = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)

var httpTriggers = []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream", "retriable-status-codes"}
var grpcTriggers = []string{"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func compileRetry(r *Retry) (*RetryPlan, error) {
	plan := &RetryPlan{NumRetries: DefaultNumRetries, AllowNonIdempotent: isTrue(r.AllowNonIdempotent)}
	if r.NumRetries != nil {
		if *r.NumRetries < 0 {
			return nil, fmt.Errorf("retry.numRetries: %d is negative: allowed 0 or more", *r.NumRetries)
		}
		plan.NumRetries = int(*r.NumRetries)
	}
	plan.MaxRetries = strconv.Itoa(plan.NumRetries)
	triggers := strings.Split(defaultRetryOn, ",")
	codes := []int{503}
	if on := r.RetryOn; on != nil {
		triggers, codes = on.Triggers, on.HTTPStatusCodes
		for i, c := range codes {
			if err := checkStatus(c, fmt.Sprintf("retry.retryOn.httpStatusCodes[%d]", i)); err != nil {
				return nil, err
			}
		}
		if len(codes) > 0 && !contains(triggers, "retriable-status-codes") {
			triggers = append(append([]string(nil), triggers...), "retriable-status-codes")
		}
	}
	var httpOn, grpcOn []string
	for i, t := range triggers {
		switch {
		case contains(httpTriggers, t):
			httpOn = append(httpOn, t)
		case contains(grpcTriggers, t):
			grpcOn = append(grpcOn, t)
		default:
			return nil, fmt.Errorf("retry.retryOn.triggers[%d]: unknown trigger %q: allowed %s, %s", i, t, strings.Join(httpTriggers, ", "), strings.Join(grpcTriggers, ", "))
		}
	}
	plan.RetryOn = strings.Join(httpOn, ",")
	plan.GRPCRetryOn = strings.Join(grpcOn, ",")
	cs := make([]string, len(codes))
	for i, c := range codes {
		cs[i] = strconv.Itoa(c)
	}
	plan.StatusCodes = strings.Join(cs, ",")
	if pr := r.PerRetry; pr != nil {
		if pr.Timeout != nil {
			d, err := ParseDuration(*pr.Timeout)
			if err != nil {
				return nil, fmt.Errorf("retry.perRetry.timeout: %v", err)
			}
			plan.PerTryTimeoutMS = strconv.FormatInt(d.Milliseconds(), 10)
		}
		if b := pr.BackOff; b != nil {
			// Back-off is rendered into the route's retry_policy; the filter
			// only checks it so a typo fails here as well.
			var base, max time.Duration
			var err error
			if b.BaseInterval != nil {
				if base, err = ParseDuration(*b.BaseInterval); err != nil {
					return nil, fmt.Errorf("retry.perRetry.backOff.baseInterval: %v", err)
				}
			}
			if b.MaxInterval != nil {
				if max, err = ParseDuration(*b.MaxInterval); err != nil {
					return nil, fmt.Errorf("retry.perRetry.backOff.maxInterval: %v", err)
				}
				if b.BaseInterval != nil && max < base {
					return nil, fmt.Errorf("retry.perRetry.backOff.maxInterval: %q is below baseInterval %q", *b.MaxInterval, *b.BaseInterval)
				}
			}
		}
	}
	return plan, nil
}

// TimeoutPlan is timeout.http.requestTimeout as x-envoy-upstream-rq-timeout-ms.
type TimeoutPlan struct {
	RequestTimeout   time.Duration
	RequestTimeoutMS string // "" when unset
}

func compileTimeout(t *Timeout) (*TimeoutPlan, error) {
	plan := &TimeoutPlan{}
	if t.HTTP != nil && t.HTTP.RequestTimeout != nil {
		d, err := ParseDuration(*t.HTTP.RequestTimeout)
		if err != nil {
			return nil, fmt.Errorf("timeout.http.requestTimeout: %v", err)
		}
		plan.RequestTimeout = d
		plan.RequestTimeoutMS = strconv.FormatInt(d.Milliseconds(), 10)
	}
	return plan, nil
}

// BudgetPlan is retryBudget.
type BudgetPlan struct {
	Percent             float64
	MinRetryConcurrency uint32
}

// DefaultBudget applies when a route has retry but no retryBudget.
var DefaultBudget = BudgetPlan{Percent: 20, MinRetryConcurrency: 3}

func compileBudget(b *RetryBudget) (*BudgetPlan, error) {
	plan := DefaultBudget
	if b.Percent != nil {
		if math.IsNaN(*b.Percent) || *b.Percent < 0 || *b.Percent > 100 {
			return nil, fmt.Errorf("retryBudget.percent: %v out of range: allowed 0 to 100", *b.Percent)
		}
		plan.Percent = *b.Percent
	}
	if b.MinRetryConcurrency != nil {
		plan.MinRetryConcurrency = *b.MinRetryConcurrency
	}
	return &plan, nil
}

// DebugPlan is debug.
type DebugPlan struct {
	PanicHeader string // lower case
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
