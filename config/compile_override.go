package config

import (
	"fmt"
	"regexp"
	"strings"
)

// OverridePlan is one responseOverride[i].
type OverridePlan struct {
	Index  int
	Ranges []StatusRange // statuses that match, inclusive; none: any status
	// Headers must all match (responseHeaders).
	Headers []OverrideHeaderPlan
	Source  OverrideSource
	// Status replaces the status; 0 keeps it.
	Status int
	// ContentType, Body and the header values are Envoy format strings
	// (format.go).
	ContentType Format
	Body        Format
	// AddHeaders are response.header's add (Append) then set entries, in
	// Envoy Gateway's order.
	AddHeaders []HeaderAddPlan
}

// OverrideSource is responseOverride[].source.
type OverrideSource uint8

const (
	SourceAll     OverrideSource = iota
	SourceLocal                  // only Envoy's own local replies
	SourceBackend                // only upstream responses
)

// OverrideHeaderPlan is one responseHeaders entry: a lower-case header name and a
// string match (Envoy's StringMatcher, case sensitive; a regex must match
// the whole value).
type OverrideHeaderPlan struct {
	Name  string
	Kind  StringMatchKind
	Value string
	Regex *regexp.Regexp
}

type StringMatchKind uint8

const (
	StringExact StringMatchKind = iota
	StringPrefix
	StringSuffix
	StringRegex
)

// Matches reports whether header value v (present) matches.
func (h *OverrideHeaderPlan) Matches(v string) bool {
	switch h.Kind {
	case StringPrefix:
		return strings.HasPrefix(v, h.Value)
	case StringSuffix:
		return strings.HasSuffix(v, h.Value)
	case StringRegex:
		return h.Regex.MatchString(v)
	}
	return v == h.Value
}

// HeaderAddPlan is one response.header add (Append) or set entry.
type HeaderAddPlan struct {
	Name   string // lower case
	Value  Format
	Append bool
}

type StatusRange struct{ Lo, Hi int }

// Matches reports whether a status matches this override's statusCodes
// (any status when it has none: responseHeaders alone decide).
func (o *OverridePlan) Matches(status int) bool {
	if len(o.Ranges) == 0 {
		return true
	}
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
		var err error
		if len(o.Match.StatusCodes) == 0 && len(o.Match.ResponseHeaders) == 0 {
			return nil, fmt.Errorf("%s.match: at least one of statusCodes or responseHeaders is required", path)
		}
		for j, h := range o.Match.ResponseHeaders {
			hp, err := compileHeaderMatch(h, fmt.Sprintf("%s.match.responseHeaders[%d]", path, j))
			if err != nil {
				return nil, err
			}
			plan.Headers = append(plan.Headers, hp)
		}
		switch src := deref(o.Source); src {
		case "", "All":
		case "Local":
			plan.Source = SourceLocal
		case "Backend":
			plan.Source = SourceBackend
		default:
			return nil, fmt.Errorf("%s.source: unknown source %q: allowed All, Local, Backend", path, src)
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
		if plan.ContentType, err = ParseFormat(deref(r.ContentType), path+".response.contentType"); err != nil {
			return nil, err
		}
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
				if plan.Body, err = ParseFormat(*b.Inline, path+".response.body.inline"); err != nil {
					return nil, err
				}
			case "ValueRef":
				return nil, fmt.Errorf("%s.response.body.type: ValueRef must be resolved to Inline by `btp render` before the config reaches Envoy", path)
			default:
				return nil, fmt.Errorf("%s.response.body.type: unknown type %q: allowed Inline", path, typ)
			}
		}
		if h := r.Header; h != nil {
			for j, kv := range h.Add {
				a, err := compileHeaderAdd(kv, true, fmt.Sprintf("%s.response.header.add[%d]", path, j))
				if err != nil {
					return nil, err
				}
				plan.AddHeaders = append(plan.AddHeaders, a)
			}
			for j, kv := range h.Set {
				a, err := compileHeaderAdd(kv, false, fmt.Sprintf("%s.response.header.set[%d]", path, j))
				if err != nil {
					return nil, err
				}
				plan.AddHeaders = append(plan.AddHeaders, a)
			}
		}
		out = append(out, plan)
	}
	return out, nil
}

func compileHeaderMatch(h ResponseOverrideHeaderMatch, path string) (OverrideHeaderPlan, error) {
	if !validHeaderName(h.Name) {
		return OverrideHeaderPlan{}, headerNameError(path+".name", h.Name)
	}
	hp := OverrideHeaderPlan{Name: strings.ToLower(h.Name), Value: h.Value.Value}
	switch t := deref(h.Value.Type); t {
	case "", "Exact":
	case "Prefix":
		hp.Kind = StringPrefix
	case "Suffix":
		hp.Kind = StringSuffix
	case "RegularExpression":
		re, err := regexp.Compile("^(?:" + h.Value.Value + ")$")
		if err != nil {
			return OverrideHeaderPlan{}, fmt.Errorf("%s.value.value: invalid regular expression %q: %v", path, h.Value.Value, err)
		}
		hp.Kind, hp.Regex = StringRegex, re
	default:
		return OverrideHeaderPlan{}, fmt.Errorf("%s.value.type: unknown type %q: allowed Exact, Prefix, Suffix, RegularExpression", path, t)
	}
	return hp, nil
}

func compileHeaderAdd(kv HeaderValue, appendValue bool, path string) (HeaderAddPlan, error) {
	if !validHeaderName(kv.Name) || strings.HasPrefix(kv.Name, ":") {
		return HeaderAddPlan{}, fmt.Errorf("%s.name: %q is not a header name a response may set: allowed %s", path, kv.Name, tokenChars)
	}
	f, err := ParseFormat(kv.Value, path+".value")
	if err != nil {
		return HeaderAddPlan{}, err
	}
	return HeaderAddPlan{Name: strings.ToLower(kv.Name), Value: f, Append: appendValue}, nil
}

// tokenChars says what an HTTP header name (an RFC 9110 token) may hold.
const tokenChars = "letters, digits and !#$%&'*+-.^_`|~ (an RFC 9110 token)"

// headerNameError refuses a header name no request or response can carry:
// a match on it could never hold.
func headerNameError(path, name string) error {
	return fmt.Errorf("%s: %q is not a header name: allowed %s, or a pseudo-header such as :authority", path, name, tokenChars)
}

// validHeaderName: an HTTP token (RFC 9110), or a pseudo-header. Case does
// not matter: Envoy's header maps are lower case, and so are the plans.
func validHeaderName(n string) bool {
	n = strings.TrimPrefix(n, ":")
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func checkStatus(v int, path string) error {
	if v < 100 || v > 599 {
		return fmt.Errorf("%s: status %d out of range: allowed 100 to 599", path, v)
	}
	return nil
}

// Formats lists every format string of the plan, for callers that need to
// know what the formats read.
func (o *OverridePlan) Formats() []*Format {
	out := []*Format{&o.ContentType, &o.Body}
	for i := range o.AddHeaders {
		out = append(out, &o.AddHeaders[i].Value)
	}
	return out
}
