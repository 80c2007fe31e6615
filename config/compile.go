package config

import (
	"strings"
)

// Compiled is one route's config validated and prepared for the request
// path: durations, sizes, CIDRs and regexes are parsed, header values the
// filter sends are pre-formatted. It is immutable and safe to share.
// A nil feature pointer means the feature is not configured.
type Compiled struct {
	Source *Policy

	RateLimit *RateLimitPlan
	Fault     *FaultPlan
	Overrides []OverridePlan
	Buffer    *BufferPlan
	Retry     *RetryPlan
	Timeout   *TimeoutPlan
	Debug     *DebugPlan
}

// Load parses and compiles JSON config in one step.
func Load(data []byte) (*Compiled, error) {
	p, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(p)
}

// LoadBytes parses (ParseBytes), validates and compiles the config bytes a
// dynamic module receives: the dynamic-module host's parse, and so the one
// `btp check` runs for that host.
func LoadBytes(data []byte) (*Compiled, error) {
	p, err := ParseBytes(data)
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
		return nil, compileBudget(p.RetryBudget)
	}
	if p.Debug != nil && p.Debug.PanicHeader != "" {
		if !validHeaderName(p.Debug.PanicHeader) {
			return nil, headerNameError("debug.panicHeader", p.Debug.PanicHeader)
		}
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
	if child.Debug != nil {
		m.Debug, src.Debug = child.Debug, cs.Debug
	}
	src.Route = cs.Route // the state of the merge belongs to the route
	m.Source = &src
	return &m
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
