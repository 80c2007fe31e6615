package bootstrap

import (
	"encoding/json"
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"

	"github.com/envoy-btp/envoy-btp/config"
)

// enforcement builds the filter's per-route config (config.Policy): the
// enforcement subset of the effective policy, in the spec's own shape. It is
// nil when the rule has none of it, and the route then carries no filter
// config.
func enforcement(c *ruleCtx) *config.Policy {
	s := c.spec
	p := &config.Policy{}
	if s.RateLimit != nil && s.RateLimit.Local != nil {
		p.RateLimit = localRateLimit(c, s.RateLimit.Local)
	}
	if fi := s.FaultInjection; fi != nil {
		p.FaultInjection = faultInjection(c, fi)
	}
	if hasRedirect(s.ResponseOverride) {
		nativeResponseOverride(c)
	} else {
		for i, ro := range s.ResponseOverride {
			if o, ok := responseOverride(c, i, ro); ok {
				p.ResponseOverride = append(p.ResponseOverride, o)
			}
		}
	}
	if rb := s.RequestBuffer; rb != nil {
		if _, ok := c.bytes("spec.requestBuffer.limit", &rb.Limit); ok {
			p.RequestBuffer = &config.RequestBuffer{Limit: rb.Limit.String()}
		}
	}
	if r := s.Retry; r != nil {
		p.Retry = &config.Retry{NumRetries: r.NumRetries}
		if on := r.RetryOn; on != nil {
			ro := &config.RetryOn{}
			for _, t := range on.Triggers {
				ro.Triggers = append(ro.Triggers, string(t))
			}
			for _, code := range on.HTTPStatusCodes {
				ro.HTTPStatusCodes = append(ro.HTTPStatusCodes, int(code))
			}
			p.Retry.RetryOn = ro
		}
		if pr := r.PerRetry; pr != nil {
			cp := &config.PerRetryPolicy{Timeout: durString(pr.Timeout)}
			if bo := pr.BackOff; bo != nil {
				cp.BackOff = &config.BackOffPolicy{BaseInterval: durString(bo.BaseInterval), MaxInterval: durString(bo.MaxInterval)}
			}
			p.Retry.PerRetry = cp
		}
	}
	if to := s.Timeout; to != nil && to.HTTP != nil && to.HTTP.RequestTimeout != nil {
		p.Timeout = &config.Timeout{HTTP: &config.HTTPTimeout{RequestTimeout: durString(to.HTTP.RequestTimeout)}}
	}
	if p.RateLimit == nil && p.FaultInjection == nil && p.ResponseOverride == nil && p.RequestBuffer == nil &&
		p.Retry == nil && p.Timeout == nil {
		return nil
	}
	return p
}

// perRouteConfig attaches the enforcement config to the route for the
// selected host and makes the listener run the btp filter.
func perRouteConfig(c *ruleCtx) {
	p := enforcement(c)
	if p == nil || len(*c.list) > c.errsBefore {
		return
	}
	// Refuse here what the filter would refuse when Envoy loads the route.
	raw, err := json.Marshal(p)
	if err == nil {
		_, err = config.Load(raw)
	}
	if err != nil {
		c.fail("spec", nil, "the btp filter refuses this route's config: "+err.Error())
		return
	}
	name, cfg, err := c.r.perRouteFilterConfig(p)
	if err != nil {
		c.fail("spec", nil, "cannot encode the filter config: "+err.Error())
		return
	}
	c.perFilter(name, cfg)
	c.port.btpFilter = true
	if p.RateLimit != nil {
		// Each Envoy route names itself in its config: its buckets then
		// survive a re-parse of the config (an RDS push), and two routes
		// with the same policy still count apart.
		c.perRoute = append(c.perRoute, func(route *routev3.Route) {
			named := *p
			named.Route = c.port.name + ":" + route.Name
			if _, cfg, err := c.r.perRouteFilterConfig(&named); err == nil {
				route.TypedPerFilterConfig[name] = cfg
			}
		})
	}
	// Envoy refuses bodies over its own buffer limit (per connection, 1Mi by
	// default) before the filter sees them; raise it for this route so the
	// filter's limit is the one that answers, with a flow-control chunk to
	// spare so the filter always decides first.
	if rb := c.spec.RequestBuffer; rb != nil {
		if n, ok := c.bytes("spec.requestBuffer.limit", &rb.Limit); ok {
			c.route.RequestBodyBufferLimit = wrapperspb.UInt64(uint64(n) + bufferSlack)
		}
	}
}

// bufferSlack is one flow-control chunk: Envoy moves request bodies in
// chunks of at most 16Ki, so a body one byte over the filter's limit never
// reaches Envoy's limit first.
const bufferSlack = 64 << 10

func durString[T ~string](d *T) *string {
	if d == nil {
		return nil
	}
	s := string(*d)
	return &s
}

func localRateLimit(c *ruleCtx, l *egv1a1.LocalRateLimit) *config.RateLimit {
	const f = "spec.rateLimit.local"
	if len(l.Rules) == 0 {
		c.fail(f+".rules", nil, "needs at least one rule")
		return nil
	}
	out := &config.RateLimit{Type: string(egv1a1.LocalRateLimitType), Local: &config.LocalRateLimit{}}
	for i, r := range l.Rules {
		rf := fmt.Sprintf("%s.rules[%d]", f, i)
		cr := config.RateLimitRule{
			Limit:      config.RateLimitValue{Requests: r.Limit.Requests, Unit: string(r.Limit.Unit)},
			Shared:     r.Shared,
			ShadowMode: r.ShadowMode,
		}
		if o := r.XRateLimitHeaders; o != nil {
			v := string(*o)
			cr.XRateLimitHeaders = &v
		}
		if r.Cost != nil && r.Cost.Request != nil {
			if r.Cost.Request.From != egv1a1.RateLimitCostFromNumber || r.Cost.Request.Number == nil {
				c.fail(rf+".cost.request", nil, "allowed only from: Number with a number for local rate limits")
			}
			cr.Cost = &config.RateLimitCost{Request: &config.RateLimitCostSpecifier{From: string(r.Cost.Request.From), Number: r.Cost.Request.Number}}
		}
		for _, sel := range r.ClientSelectors {
			cs := config.RateLimitSelectCondition{}
			for _, h := range sel.Headers {
				var t *string
				if h.Type != nil {
					v := string(*h.Type)
					t = &v
				}
				cs.Headers = append(cs.Headers, config.HeaderMatch{Type: t, Name: h.Name, Value: h.Value, Invert: h.Invert})
			}
			for _, m := range sel.Methods {
				cs.Methods = append(cs.Methods, config.MethodMatch{Value: string(m.Value), Invert: m.Invert})
			}
			if pm := sel.Path; pm != nil {
				var t *string
				if pm.Type != nil {
					v := string(*pm.Type)
					t = &v
				}
				cs.Path = &config.PathMatch{Type: t, Value: pm.Value, Invert: pm.Invert}
			}
			if sm := sel.SourceCIDR; sm != nil {
				var t *string
				if sm.Type != nil {
					v := string(*sm.Type)
					t = &v
				}
				cs.SourceCIDR = &config.SourceMatch{Type: t, Value: sm.Value, Invert: sm.Invert}
			}
			for _, q := range sel.QueryParams {
				var t *string
				if q.Type != nil {
					v := string(*q.Type)
					t = &v
				}
				cs.QueryParams = append(cs.QueryParams, config.QueryParamMatch{Type: t, Name: q.Name, Value: q.Value, Invert: q.Invert})
			}
			cr.ClientSelectors = append(cr.ClientSelectors, cs)
		}
		out.Local.Rules = append(out.Local.Rules, cr)
	}
	return out
}

func faultInjection(c *ruleCtx, fi *egv1a1.FaultInjection) *config.FaultInjection {
	const f = "spec.faultInjection"
	if fi.Delay == nil && fi.Abort == nil {
		c.fail(f, nil, "needs delay or abort")
		return nil
	}
	out := &config.FaultInjection{}
	if d := fi.Delay; d != nil {
		if d.FixedDelay == nil {
			c.fail(f+".delay.fixedDelay", nil, "is required")
		} else {
			c.duration(f+".delay.fixedDelay", d.FixedDelay)
		}
		out.Delay = &config.FaultInjectionDelay{FixedDelay: durString(d.FixedDelay), Percentage: d.Percentage}
	}
	if a := fi.Abort; a != nil {
		if (a.HTTPStatus == nil) == (a.GrpcStatus == nil) {
			c.fail(f+".abort", nil, "needs exactly one of httpStatus and grpcStatus")
		}
		out.Abort = &config.FaultInjectionAbort{HTTPStatus: a.HTTPStatus, GrpcStatus: a.GrpcStatus, Percentage: a.Percentage}
	}
	return out
}

func responseOverride(c *ruleCtx, i int, ro *egv1a1.ResponseOverride) (config.ResponseOverride, bool) {
	f := fmt.Sprintf("spec.responseOverride[%d]", i)
	var out config.ResponseOverride
	if len(ro.Match.StatusCodes) == 0 && len(ro.Match.ResponseHeaders) == 0 {
		c.fail(f+".match", nil, "needs statusCodes, responseHeaders or both")
		return out, false
	}
	for _, h := range ro.Match.ResponseHeaders {
		m := config.ResponseOverrideHeaderMatch{Name: string(h.Name), Value: config.StringMatch{Value: h.Value.Value}}
		if h.Value.Type != nil {
			t := string(*h.Value.Type)
			m.Value.Type = &t
		}
		out.Match.ResponseHeaders = append(out.Match.ResponseHeaders, m)
	}
	if ro.Source != nil {
		src := string(*ro.Source)
		out.Source = &src
	}
	for _, sc := range ro.Match.StatusCodes {
		m := config.StatusCodeMatch{Value: sc.Value}
		if sc.Type != nil {
			t := string(*sc.Type)
			m.Type = &t
		}
		if sc.Range != nil {
			m.Range = &config.StatusCodeRange{Start: sc.Range.Start, End: sc.Range.End}
		}
		out.Match.StatusCodes = append(out.Match.StatusCodes, m)
	}
	if r := ro.Response; r != nil {
		cr := &config.CustomResponse{ContentType: r.ContentType, StatusCode: r.StatusCode}
		if b := r.Body; b != nil {
			if b.Inline == nil {
				c.fail(f+".response.body", nil, "has no inline body (a valueRef's ConfigMap must be among the inputs)")
				return out, false
			}
			// The policy package resolved any valueRef into the inline body.
			inline := string(egv1a1.ResponseValueTypeInline)
			cr.Body = &config.CustomResponseBody{Type: &inline, Inline: b.Inline}
			// An Envoy format string under Envoy Gateway (config/format.go).
			bf := f + ".response.body.inline"
			if b.ValueRef != nil {
				bf = fmt.Sprintf("%s.response.body.valueRef (ConfigMap %s)", f, b.ValueRef.Name)
			}
			if err := config.ValidateFormat(*b.Inline); err != nil {
				c.fail(bf, nil, "an Envoy format string: "+err.Error())
				return out, false
			}
		}
		if r.ContentType != nil {
			if err := config.ValidateFormat(*r.ContentType); err != nil {
				c.fail(f+".response.contentType", nil, "an Envoy format string: "+err.Error())
				return out, false
			}
		}
		if h := r.Header; h != nil {
			// Remove is refused by Envoy Gateway's CRD validation (policy/rules.go).
			hm := &config.ResponseHeaderModifier{}
			for _, kv := range h.Add {
				hm.Add = append(hm.Add, config.HeaderValue{Name: string(kv.Name), Value: kv.Value})
			}
			for _, kv := range h.Set {
				hm.Set = append(hm.Set, config.HeaderValue{Name: string(kv.Name), Value: kv.Value})
			}
			cr.Header = hm
		}
		out.Response = cr
	} else {
		c.fail(f+".response", nil, "is required")
		return out, false
	}
	return out, true
}
