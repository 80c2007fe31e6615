package bootstrap

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// Names Envoy Gateway uses for global rate limiting.
const (
	rateLimitFilterName  = "envoy.filters.http.ratelimit"
	rateLimitClusterName = "ratelimit_cluster"
)

// rateLimitRoute renders spec.rateLimit.global the way Envoy Gateway does:
// per route, the rate_limits actions that build each rule's descriptors,
// sent to the rate limit service by Envoy's ratelimit filter. Shared rules
// use their own domain (and filter) so every route shares one counter. The
// same walk adds each rule's descriptor chain and limit to the rate limit
// service's config (ratelimit_service.go), so the two cannot drift apart.
// rateLimit.local is enforced by the btp filter (perroute.go).
func rateLimitRoute(c *ruleCtx) {
	rl := c.spec.RateLimit
	if rl == nil {
		return
	}
	const f = "spec.rateLimit"
	if rl.Type != nil {
		switch *rl.Type {
		case egv1a1.GlobalRateLimitType:
			if rl.Global == nil {
				c.fail(f+".global", nil, "is required with type Global")
			}
		case egv1a1.LocalRateLimitType:
			if rl.Local == nil {
				c.fail(f+".local", nil, "is required with type Local")
			}
		default:
			c.fail(f+".type", string(*rl.Type), "allowed Global, Local")
		}
	}
	if rl.Global == nil && rl.Local == nil {
		c.fail(f, nil, "needs global or local rules")
	}
	g := rl.Global
	if g == nil {
		return
	}
	if len(g.Rules) == 0 {
		c.fail(f+".global.rules", nil, "needs at least one rule")
		return
	}
	policyName := "unknown/unknown"
	if len(c.rule.PolicySources) > 0 {
		policyName = c.rule.PolicySources[0].Namespace + "/" + c.rule.PolicySources[0].Name
	}
	routeDescriptor := fmt.Sprintf("httproute/%s/%s/rule/%d", c.rt.Name.Namespace, c.rt.Name.Name, c.rule.Index)
	byDomain := map[string][]*routev3.RateLimit{}
	shared, local := 0, 0
	for ri := range g.Rules {
		rule := &g.Rules[ri]
		rf := fmt.Sprintf("%s.global.rules[%d]", f, ri)
		isShared := rule.Shared != nil && *rule.Shared
		domain, key, idx := c.port.name, routeDescriptor, local
		if isShared {
			domain = strings.Replace(policyName, "/", "-", 1)
			key = fmt.Sprintf("%s/rule/%d", policyName, ri)
			idx = shared
			shared++
		} else {
			local++
		}
		limit := serviceLimit(c, rf+".limit", rule.Limit)
		var methods []*egv1a1.MethodMatch
		for si := range rule.ClientSelectors {
			for mi := range rule.ClientSelectors[si].Methods {
				methods = append(methods, &rule.ClientSelectors[si].Methods[mi])
			}
		}
		if len(methods) == 0 {
			methods = []*egv1a1.MethodMatch{nil}
		}
		var selSteps []rlStep
		matched := false
		for si := range rule.ClientSelectors {
			sel := &rule.ClientSelectors[si]
			sf := fmt.Sprintf("%s.clientSelectors[%d]", rf, si)
			selSteps = append(selSteps, selectorSteps(c, sf, idx, sel)...)
			matched = matched || len(sel.Headers) > 0 || len(sel.Methods) > 0 || sel.Path != nil ||
				sel.SourceCIDR != nil || len(sel.QueryParams) > 0
		}
		var steps []rlStep
		for _, method := range methods {
			steps = append(append(steps[:0], rlStep{genericKey(key, key), key, key}), selSteps...)
			if method != nil {
				d := fmt.Sprintf("rule-%d-method", idx)
				steps = append(steps, rlStep{headerValueMatch(d, ":method", exact(string(method.Value)), method.Invert), d, d})
			}
			if !matched {
				d := fmt.Sprintf("rule-%d-match--1", idx)
				steps = append(steps, rlStep{genericKey(d, d), d, d})
			}
			actions := make([]*routev3.RateLimit_Action, len(steps))
			for i := range steps {
				actions[i] = steps[i].action
			}
			r := &routev3.RateLimit{Actions: actions}
			if o := rule.XRateLimitHeaders; o != nil {
				switch *o {
				case egv1a1.XRateLimitHeadersOptionDisabled:
					r.XRatelimitOption = routev3.RateLimit_OFF
				case egv1a1.XRateLimitHeadersOptionDraftVersion03:
					r.XRatelimitOption = routev3.RateLimit_DRAFT_VERSION_03
				default:
					c.fail(rf+".xRateLimitHeaders", string(*o), "allowed Off, DraftVersion03")
				}
			}
			if md := rule.Limit.FromMetadata; md != nil {
				r.Limit = &routev3.RateLimit_Override{OverrideSpecifier: &routev3.RateLimit_Override_DynamicMetadata_{
					DynamicMetadata: &routev3.RateLimit_Override_DynamicMetadata{MetadataKey: &metadatav3.MetadataKey{
						Key:  md.Namespace,
						Path: []*metadatav3.MetadataKey_PathSegment{{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: md.Key}}},
					}},
				}}
			}
			if rule.Cost != nil && rule.Cost.Request != nil {
				r.HitsAddend = hitsAddend(c, rf+".cost.request", rule.Cost.Request)
			}
			byDomain[domain] = append(byDomain[domain], r)
			if rule.Cost != nil && rule.Cost.Response != nil {
				done := &routev3.RateLimit{Actions: actions, ApplyOnStreamDone: true, XRatelimitOption: r.XRatelimitOption, Limit: r.Limit}
				done.HitsAddend = hitsAddend(c, rf+".cost.response", rule.Cost.Response)
				byDomain[domain] = append(byDomain[domain], done)
			}
		}
		// Every method sends the same keys and values (the method descriptor's
		// value is its key), so one chain per rule covers them all.
		if limit != nil {
			c.r.addServiceDescriptor(c, rf, domain, steps, limit, rule.ShadowMode != nil && *rule.ShadowMode)
		}
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	if c.port.rateLimits == nil {
		c.port.rateLimits = map[string]bool{}
	}
	for _, d := range domains {
		name := rateLimitFilterName
		if d != c.port.name {
			name += "/" + d
		}
		c.port.rateLimits[d] = true
		c.perFilter(name, mustAny(&ratelimitv3.RateLimitPerRoute{Domain: d, RateLimits: byDomain[d]}))
	}
	c.r.globalRateLimit = true
}

// rlStep is one descriptor entry of a global rule: the route action that
// makes Envoy send it, and the key and value the rate limit service matches
// (value "" matches any value: Distinct selectors).
type rlStep struct {
	action     *routev3.RateLimit_Action
	key, value string
}

// selectorSteps builds the descriptor entries of one client selector
// (header, path, source CIDR and query parameter matches; methods are
// expanded by the caller, one rate limit per method).
func selectorSteps(c *ruleCtx, f string, idx int, sel *egv1a1.RateLimitSelectCondition) []rlStep {
	var out []rlStep
	for hi, h := range sel.Headers {
		hf := fmt.Sprintf("%s.headers[%d]", f, hi)
		d := fmt.Sprintf("rule-%d-match-%d", idx, hi)
		t := egv1a1.HeaderMatchExact
		if h.Type != nil {
			t = *h.Type
		}
		switch t {
		case egv1a1.HeaderMatchDistinct:
			if h.Value != nil || (h.Invert != nil && *h.Invert) {
				c.fail(hf, nil, "value and invert are not allowed with type Distinct")
			}
			out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
				RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: h.Name, DescriptorKey: d}}}, d, ""})
		case egv1a1.HeaderMatchExact, egv1a1.HeaderMatchRegularExpression:
			if h.Value == nil {
				c.fail(hf+".value", nil, "is required with type "+string(t))
				continue
			}
			sm := exact(*h.Value)
			if t == egv1a1.HeaderMatchRegularExpression {
				checkRegex(c.scope, hf+".value", *h.Value)
				sm = regex(*h.Value)
			}
			out = append(out, rlStep{headerValueMatch(d, h.Name, sm, h.Invert), d, d})
		default:
			c.fail(hf+".type", string(t), "allowed Exact, RegularExpression, Distinct")
		}
	}
	if p := sel.Path; p != nil {
		t := gwapiv1.PathMatchPathPrefix
		if p.Type != nil {
			t = *p.Type
		}
		var sm *matcherv3.StringMatcher
		switch t {
		case gwapiv1.PathMatchExact:
			sm = exact(p.Value)
		case gwapiv1.PathMatchPathPrefix:
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p.Value}}
		case gwapiv1.PathMatchRegularExpression:
			checkRegex(c.scope, f+".path.value", p.Value)
			sm = regex(p.Value)
		default:
			c.fail(f+".path.type", string(t), "allowed Exact, PathPrefix, RegularExpression")
		}
		if sm != nil {
			d := fmt.Sprintf("rule-%d-path", idx)
			out = append(out, rlStep{headerValueMatch(d, ":path", sm, p.Invert), d, d})
		}
	}
	if s := sel.SourceCIDR; s != nil {
		pfx, err := netip.ParsePrefix(s.Value)
		if err != nil {
			c.fail(f+".sourceCIDR.value", s.Value, "allowed a CIDR such as 10.0.0.0/8 or 2001:db8::/64")
		} else {
			invert := s.Invert != nil && *s.Invert
			am := &matcherv3.AddressMatcher{
				Ranges:      []*xdscorev3.CidrRange{{AddressPrefix: pfx.Masked().Addr().String(), PrefixLen: u32(uint32(pfx.Bits()))}},
				InvertMatch: invert,
			}
			val := s.Value
			if invert {
				val = "invert:" + val
			}
			out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddressMatch_{
				RemoteAddressMatch: &routev3.RateLimit_Action_RemoteAddressMatch{DescriptorKey: "masked_remote_address", DescriptorValue: val, AddressMatcher: am}}},
				"masked_remote_address", val})
			if s.Type != nil && *s.Type == egv1a1.SourceMatchDistinct {
				out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddressMatch_{
					RemoteAddressMatch: &routev3.RateLimit_Action_RemoteAddressMatch{
						DescriptorKey: "remote_address", DescriptorValue: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", AddressMatcher: am}}},
					"remote_address", ""})
			} else if s.Type != nil && *s.Type != egv1a1.SourceMatchExact {
				c.fail(f+".sourceCIDR.type", string(*s.Type), "allowed Exact, Distinct")
			}
		}
	}
	for qi, q := range sel.QueryParams {
		qf := fmt.Sprintf("%s.queryParams[%d]", f, qi)
		d := fmt.Sprintf("rule-%d-match-%d", idx, len(sel.Headers)+qi)
		t := egv1a1.QueryParamMatchExact
		if q.Type != nil {
			t = *q.Type
		}
		switch t {
		case egv1a1.QueryParamMatchDistinct:
			out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_QueryParameters_{
				QueryParameters: &routev3.RateLimit_Action_QueryParameters{QueryParameterName: q.Name, DescriptorKey: d}}}, d, ""})
		case egv1a1.QueryParamMatchExact, egv1a1.QueryParamMatchRegularExpression:
			if q.Value == nil {
				c.fail(qf+".value", nil, "is required with type "+string(t))
				continue
			}
			sm := exact(*q.Value)
			if t == egv1a1.QueryParamMatchRegularExpression {
				checkRegex(c.scope, qf+".value", *q.Value)
				sm = regex(*q.Value)
			}
			out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_QueryParameterValueMatch_{
				QueryParameterValueMatch: &routev3.RateLimit_Action_QueryParameterValueMatch{
					DescriptorKey: d, DescriptorValue: d, ExpectMatch: wrapperspb.Bool(q.Invert == nil || !*q.Invert),
					QueryParameters: []*routev3.QueryParameterMatcher{{
						Name: q.Name, QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}}},
				}}}, d, d})
		default:
			c.fail(qf+".type", string(t), "allowed Exact, RegularExpression, Distinct")
		}
	}
	return out
}

func genericKey(k, v string) *routev3.RateLimit_Action {
	return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{
		GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorKey: k, DescriptorValue: v}}}
}

func headerValueMatch(key, header string, sm *matcherv3.StringMatcher, invert *bool) *routev3.RateLimit_Action {
	return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_HeaderValueMatch_{
		HeaderValueMatch: &routev3.RateLimit_Action_HeaderValueMatch{
			DescriptorKey: key, DescriptorValue: key,
			ExpectMatch: wrapperspb.Bool(invert == nil || !*invert),
			Headers: []*routev3.HeaderMatcher{{
				Name: header, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm}}},
		}}}
}

func hitsAddend(c *ruleCtx, f string, s *egv1a1.RateLimitCostSpecifier) *routev3.RateLimit_HitsAddend {
	switch s.From {
	case egv1a1.RateLimitCostFromNumber:
		if s.Number == nil || s.Metadata != nil {
			c.fail(f+".number", nil, "is required (and metadata not allowed) with from Number")
			return nil
		}
		return &routev3.RateLimit_HitsAddend{Number: wrapperspb.UInt64(*s.Number)}
	case egv1a1.RateLimitCostFromMetadata:
		if s.Metadata == nil || s.Number != nil {
			c.fail(f+".metadata", nil, "is required (and number not allowed) with from Metadata")
			return nil
		}
		return &routev3.RateLimit_HitsAddend{Format: fmt.Sprintf("%%DYNAMIC_METADATA(%s:%s)%%", s.Metadata.Namespace, s.Metadata.Key)}
	}
	c.fail(f+".from", string(s.From), "allowed Number, Metadata")
	return nil
}

// rateLimitFilters is Envoy's ratelimit filter for each domain a listener's
// routes use: the listener's own, plus one per policy with shared rules.
func rateLimitFilters(p *port) []*hcmv3.HttpFilter {
	domains := make([]string, 0, len(p.rateLimits))
	for d := range p.rateLimits {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	out := make([]*hcmv3.HttpFilter, 0, len(domains))
	for _, d := range domains {
		name := rateLimitFilterName
		if d != p.name {
			name += "/" + d
		}
		out = append(out, &hcmv3.HttpFilter{
			Name: name,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ratelimitv3.RateLimit{
				Domain: d,
				RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
					GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: rateLimitClusterName}}},
					TransportApiVersion: corev3.ApiVersion_V3,
				},
				DisableXEnvoyRatelimitedHeader: true,
				EnableXRatelimitHeaders:        ratelimitv3.RateLimit_DRAFT_VERSION_03,
			})},
		})
	}
	return out
}

// rateLimitServiceCluster is the gRPC (HTTP/2) cluster of the rate limit
// service, resolved through DNS.
func rateLimitServiceCluster(url string) (*clusterv3.Cluster, error) {
	host, port, err := rateLimitHostPort(url)
	if err != nil {
		return nil, err
	}
	t := &clusterTemplate{cluster: &clusterv3.Cluster{
		ConnectTimeout:                durationpb.New(defaultConnectTimeout),
		PerConnectionBufferLimitBytes: u32(defaultConnBufferLimit),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					InitialStreamWindowSize:     u32(http2StreamWindow),
					InitialConnectionWindowSize: u32(http2ConnectionWindow),
				}},
			}},
		})},
	}}
	_, ipErr := netip.ParseAddr(host)
	return t.build(rateLimitClusterName, &policy.Backend{Endpoints: []policy.Endpoint{{Address: host, Port: port, Hostname: ipErr != nil}}}), nil
}
