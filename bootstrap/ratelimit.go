package bootstrap

import (
	"fmt"
	"net/netip"
	"regexp"
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
	"google.golang.org/protobuf/proto"
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

// rateLimitRoute renders spec.rateLimit.global the way Envoy Gateway v1.9.1
// does (internal/xds/translator/ratelimit.go): per route, the rate_limits
// actions that build each rule's descriptors, sent to the rate limit service
// by Envoy's ratelimit filter. A rule's first descriptor is the xDS route's
// name (so every route, hostname and match has its own counters), or for a
// shared rule the rule's name NS/POLICY/rule/I in the policy's own domain
// NS/POLICY (and filter), so every route shares one counter. The same walk
// adds each descriptor chain and limit to the rate limit service's config
// (ratelimit_service.go), so the two cannot drift apart.
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
	rules := make([]*globalRule, 0, len(g.Rules))
	shared, unshared := 0, 0
	for ri := range g.Rules {
		rule := &g.Rules[ri]
		gr := &globalRule{field: fmt.Sprintf("%s.global.rules[%d]", f, ri), shadow: rule.ShadowMode != nil && *rule.ShadowMode}
		// Rule indexes in descriptor keys count each domain's rules apart.
		idx := unshared
		if rule.Shared != nil && *rule.Shared {
			gr.key = globalRuleName(c, ri)
			gr.domain = gr.key[:strings.LastIndex(gr.key, "/rule/")]
			idx = shared
			shared++
		} else {
			unshared++
		}
		gr.limit = serviceLimit(c, gr.field+".limit", rule.Limit)
		headers, rest, methods := ruleSteps(c, gr.field, idx, rule)
		gr.steps = headers
		if len(methods) > 0 {
			// Every method sends the same key and value, so the methods
			// share the rule's counter and one service descriptor chain.
			m := methodKey(idx)
			gr.steps = append(gr.steps, rlStep{nil, m, m})
		} else {
			methods = []*egv1a1.MethodMatch{nil}
		}
		gr.steps = append(gr.steps, rest...)
		for _, method := range methods {
			actions := make([]*routev3.RateLimit_Action, 0, len(gr.steps))
			for _, s := range headers {
				actions = append(actions, s.action)
			}
			if method != nil {
				actions = append(actions, headerValueMatch(methodKey(idx), ":method", exact(string(method.Value)), method.Invert))
			}
			for _, s := range rest {
				actions = append(actions, s.action)
			}
			r := &routev3.RateLimit{Actions: actions}
			if o := rule.XRateLimitHeaders; o != nil {
				switch *o {
				case egv1a1.XRateLimitHeadersOptionDisabled:
					r.XRatelimitOption = routev3.RateLimit_OFF
				case egv1a1.XRateLimitHeadersOptionDraftVersion03:
					r.XRatelimitOption = routev3.RateLimit_DRAFT_VERSION_03
				default:
					c.fail(gr.field+".xRateLimitHeaders", string(*o), "allowed Off, DraftVersion03")
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
				r.HitsAddend = hitsAddend(c, gr.field+".cost.request", rule.Cost.Request)
			}
			gr.limits = append(gr.limits, r)
			if rule.Cost != nil && rule.Cost.Response != nil {
				done := &routev3.RateLimit{Actions: actions, ApplyOnStreamDone: true, XRatelimitOption: r.XRatelimitOption, Limit: r.Limit}
				done.HitsAddend = hitsAddend(c, gr.field+".cost.response", rule.Cost.Response)
				gr.limits = append(gr.limits, done)
			}
		}
		rules = append(rules, gr)
	}
	c.r.globalRateLimit = true
	c.port.globalRateLimit = true
	c.perRoute = append(c.perRoute, func(route *routev3.Route) { globalRoute(c, rules, route) })
}

// globalRule is one rateLimit.global rule, ready for any route name.
type globalRule struct {
	field string
	// domain and key are a shared rule's domain and first descriptor; empty
	// for a per-route rule (the listener's domain, the route's name).
	domain, key string
	// steps are the descriptor entries after the first, as the service
	// config matches them.
	steps []rlStep
	// limits are the route's rate_limits without their first action: one
	// per method, and a stream-done twin for a response cost.
	limits []*routev3.RateLimit
	limit  *RateLimitPolicy // nil after an error
	shadow bool
}

// globalRoute gives one final route its rate_limits (per domain, in the
// ratelimit filter's per-route config) and queues their descriptors for the
// rate limit service's config (addServiceDescriptors adds them in Envoy
// Gateway's route order). As in Envoy Gateway, a route that does not
// forward (a direct response or redirect) gets no rate_limits, but its
// descriptors still go into the service config.
func globalRoute(c *ruleCtx, rules []*globalRule, route *routev3.Route) {
	byDomain := map[string][]*routev3.RateLimit{}
	var domains []string
	var adds []func()
	for _, gr := range rules {
		domain, key := c.listener, route.Name
		if gr.key != "" {
			domain, key = gr.domain, gr.key
			if c.port.sharedDomains == nil {
				c.port.sharedDomains = map[string]bool{}
			}
			c.port.sharedDomains[domain] = true
		}
		first := genericKey(key, key)
		if _, ok := byDomain[domain]; !ok {
			domains = append(domains, domain)
		}
		for _, t := range gr.limits {
			r := proto.Clone(t).(*routev3.RateLimit)
			r.Actions = append([]*routev3.RateLimit_Action{first}, r.Actions...)
			byDomain[domain] = append(byDomain[domain], r)
		}
		if gr.limit != nil {
			gr, domain, steps := gr, domain, append([]rlStep{{first, key, key}}, gr.steps...)
			adds = append(adds, func() { c.r.addServiceDescriptor(c, gr.field, domain, steps, gr.limit, gr.shadow) })
		}
	}
	c.port.serviceDescriptors = append(c.port.serviceDescriptors, routeDescriptors{route, adds})
	if route.GetRoute() == nil {
		return
	}
	if route.TypedPerFilterConfig == nil {
		route.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	for _, d := range domains {
		route.TypedPerFilterConfig[rateLimitFilter(d, c.listener)] = mustAny(&ratelimitv3.RateLimitPerRoute{Domain: d, RateLimits: byDomain[d]})
	}
}

// routeDescriptors are one route's rate limit service descriptors, added
// once the listener's route order is known.
type routeDescriptors struct {
	route *routev3.Route
	adds  []func()
}

// addServiceDescriptors adds the listener's queued descriptors to the rate
// limit service's config in the order Envoy Gateway's
// BuildRateLimitServiceConfig walks them: its IR listener's routes, which
// it sorts across hostnames by Gateway API precedence (sortRoutes) before
// splitting them into virtual hosts. The service does not care about the
// order; the comparison with Envoy Gateway's output does.
func (p *port) addServiceDescriptors() {
	routes := make([]*routev3.Route, len(p.serviceDescriptors))
	adds := make(map[*routev3.Route][]func(), len(p.serviceDescriptors))
	for i, d := range p.serviceDescriptors {
		routes[i] = d.route
		adds[d.route] = d.adds
	}
	sortRoutes(routes)
	for _, r := range routes {
		for _, add := range adds[r] {
			add()
		}
	}
}

// rateLimitFilter names the ratelimit filter of domain on a listener: the
// listener's own domain has the plain name, a shared domain its own filter.
func rateLimitFilter(domain, listener string) string {
	if domain == listener {
		return rateLimitFilterName
	}
	return rateLimitFilterName + "/" + domain
}

// globalRuleName is Envoy Gateway's name of global rule ri of the rule's
// policy, NS/POLICY/rule/I: after a merge each rule keeps the name it had in
// the policy it came from.
func globalRuleName(c *ruleCtx, ri int) string {
	if ri < len(c.rule.GlobalRuleNames) {
		return c.rule.GlobalRuleNames[ri]
	}
	src := "unknown/unknown"
	if len(c.rule.PolicySources) > 0 {
		src = c.rule.PolicySources[0].Namespace + "/" + c.rule.PolicySources[0].Name
	}
	return fmt.Sprintf("%s/rule/%d", src, ri)
}

// rlStep is one descriptor entry of a global rule: the route action that
// makes Envoy send it, and the key and value the rate limit service matches
// (value "" matches any value: Distinct selectors).
type rlStep struct {
	action     *routev3.RateLimit_Action
	key, value string
}

func methodKey(idx int) string { return fmt.Sprintf("rule-%d-method", idx) }

// ruleSteps builds a rule's descriptor entries as Envoy Gateway flattens
// its client selectors: every selector's headers (numbered across
// selectors); then the methods (returned: the caller makes one rate limit
// per method); then the last selector's path, the last selector's source
// CIDR and every selector's query parameters (numbered on after the
// headers). A rule that matches nothing in particular is one whole-route
// entry.
func ruleSteps(c *ruleCtx, rf string, idx int, rule *egv1a1.RateLimitRule) (headers, rest []rlStep, methods []*egv1a1.MethodMatch) {
	var (
		path         *egv1a1.PathMatch
		cidr         *egv1a1.SourceMatch
		pathF, cidrF string
		n            int
	)
	for si := range rule.ClientSelectors {
		sel := &rule.ClientSelectors[si]
		sf := fmt.Sprintf("%s.clientSelectors[%d]", rf, si)
		if len(sel.Headers) == 0 && len(sel.Methods) == 0 && sel.Path == nil && sel.SourceCIDR == nil && len(sel.QueryParams) == 0 {
			c.fail(sf, nil, "needs at least one of headers, methods, path, sourceCIDR or queryParams")
		}
		for hi := range sel.Headers {
			if s, ok := headerStep(c, fmt.Sprintf("%s.headers[%d]", sf, hi), ruleMatchKey(idx, n), &sel.Headers[hi]); ok {
				headers = append(headers, s)
			}
			n++
		}
		for mi := range sel.Methods {
			methods = append(methods, &sel.Methods[mi])
		}
		if sel.Path != nil {
			path, pathF = sel.Path, sf+".path"
		}
		if sel.SourceCIDR != nil {
			cidr, cidrF = sel.SourceCIDR, sf+".sourceCIDR"
		}
	}
	matched := n > 0 || len(methods) > 0 || path != nil || cidr != nil
	if path != nil {
		if s, ok := pathStep(c, pathF, idx, path); ok {
			rest = append(rest, s)
		}
	}
	if cidr != nil {
		rest = append(rest, cidrSteps(c, cidrF, cidr)...)
	}
	for si := range rule.ClientSelectors {
		sel := &rule.ClientSelectors[si]
		for qi := range sel.QueryParams {
			qf := fmt.Sprintf("%s.clientSelectors[%d].queryParams[%d]", rf, si, qi)
			if s, ok := queryStep(c, qf, ruleMatchKey(idx, n), &sel.QueryParams[qi]); ok {
				rest = append(rest, s)
			}
			n++
			matched = true
		}
	}
	if !matched {
		d := ruleMatchKey(idx, -1)
		rest = append(rest, rlStep{genericKey(d, d), d, d})
	}
	return headers, rest, methods
}

func ruleMatchKey(idx, match int) string { return fmt.Sprintf("rule-%d-match-%d", idx, match) }

func headerStep(c *ruleCtx, hf, d string, h *egv1a1.HeaderMatch) (rlStep, bool) {
	t := egv1a1.HeaderMatchExact
	if h.Type != nil {
		t = *h.Type
	}
	switch t {
	case egv1a1.HeaderMatchDistinct:
		if h.Value != nil || (h.Invert != nil && *h.Invert) {
			c.fail(hf, nil, "value and invert are not allowed with type Distinct")
			return rlStep{}, false
		}
		return rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
			RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: h.Name, DescriptorKey: d}}}, d, ""}, true
	case egv1a1.HeaderMatchExact, egv1a1.HeaderMatchRegularExpression:
		if h.Value == nil {
			c.fail(hf+".value", nil, "is required with type "+string(t))
			return rlStep{}, false
		}
		sm := exact(*h.Value)
		if t == egv1a1.HeaderMatchRegularExpression {
			checkRegex(c.scope, hf+".value", *h.Value)
			sm = regex(*h.Value)
		}
		return rlStep{headerValueMatch(d, h.Name, sm, h.Invert), d, d}, true
	}
	c.fail(hf+".type", string(t), "allowed Exact, RegularExpression, Distinct")
	return rlStep{}, false
}

// pathStep matches the request's :path header. A PathPrefix other than "/"
// is Envoy Gateway's path-separated prefix regex, since a header matcher has
// no path-separated prefix.
func pathStep(c *ruleCtx, f string, idx int, p *egv1a1.PathMatch) (rlStep, bool) {
	t := gwapiv1.PathMatchPathPrefix
	if p.Type != nil {
		t = *p.Type
	}
	var sm *matcherv3.StringMatcher
	switch t {
	case gwapiv1.PathMatchExact:
		sm = exact(p.Value)
	case gwapiv1.PathMatchPathPrefix:
		if p.Value == "/" {
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p.Value}}
		} else {
			sm = regex("^" + regexp.QuoteMeta(strings.TrimSuffix(p.Value, "/")) + `(/.*|\?.*|#.*|;.*|$)`)
		}
	case gwapiv1.PathMatchRegularExpression:
		checkRegex(c.scope, f+".value", p.Value)
		sm = regex(p.Value)
	default:
		c.fail(f+".type", string(t), "allowed Exact, PathPrefix, RegularExpression")
		return rlStep{}, false
	}
	d := fmt.Sprintf("rule-%d-path", idx)
	return rlStep{headerValueMatch(d, ":path", sm, p.Invert), d, d}, true
}

// cidrSteps match the client's address: masked_remote_address is the CIDR
// (one counter for the range), and for Distinct remote_address the address
// itself (one counter per client). The CIDR is written masked, as Envoy
// Gateway writes it (10.1.2.3/8 is 10.0.0.0/8).
func cidrSteps(c *ruleCtx, f string, s *egv1a1.SourceMatch) []rlStep {
	pfx, err := netip.ParsePrefix(s.Value)
	if err != nil {
		c.fail(f+".value", s.Value, "allowed a CIDR such as 10.0.0.0/8 or 2001:db8::/64")
		return nil
	}
	if s.Type != nil && *s.Type != egv1a1.SourceMatchExact && *s.Type != egv1a1.SourceMatchDistinct {
		c.fail(f+".type", string(*s.Type), "allowed Exact, Distinct")
		return nil
	}
	pfx = pfx.Masked()
	invert := s.Invert != nil && *s.Invert
	am := &matcherv3.AddressMatcher{
		Ranges:      []*xdscorev3.CidrRange{{AddressPrefix: pfx.Addr().String(), PrefixLen: u32(uint32(pfx.Bits()))}},
		InvertMatch: invert,
	}
	val := pfx.String()
	if invert {
		val = "invert:" + val
	}
	out := []rlStep{{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddressMatch_{
		RemoteAddressMatch: &routev3.RateLimit_Action_RemoteAddressMatch{DescriptorKey: "masked_remote_address", DescriptorValue: val, AddressMatcher: am}}},
		"masked_remote_address", val}}
	if s.Type != nil && *s.Type == egv1a1.SourceMatchDistinct {
		out = append(out, rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddressMatch_{
			RemoteAddressMatch: &routev3.RateLimit_Action_RemoteAddressMatch{
				DescriptorKey: "remote_address", DescriptorValue: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", AddressMatcher: am}}},
			"remote_address", ""})
	}
	return out
}

func queryStep(c *ruleCtx, qf, d string, q *egv1a1.QueryParamMatch) (rlStep, bool) {
	t := egv1a1.QueryParamMatchExact
	if q.Type != nil {
		t = *q.Type
	}
	switch t {
	case egv1a1.QueryParamMatchDistinct:
		if q.Value != nil || (q.Invert != nil && *q.Invert) {
			c.fail(qf, nil, "value and invert are not allowed with type Distinct")
			return rlStep{}, false
		}
		return rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_QueryParameters_{
			QueryParameters: &routev3.RateLimit_Action_QueryParameters{QueryParameterName: q.Name, DescriptorKey: d}}}, d, ""}, true
	case egv1a1.QueryParamMatchExact, egv1a1.QueryParamMatchRegularExpression:
		if q.Value == nil || *q.Value == "" {
			c.fail(qf+".value", nil, "is required (not empty) with type "+string(t))
			return rlStep{}, false
		}
		sm := exact(*q.Value)
		if t == egv1a1.QueryParamMatchRegularExpression {
			checkRegex(c.scope, qf+".value", *q.Value)
			sm = regex(*q.Value)
		}
		return rlStep{&routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_QueryParameterValueMatch_{
			QueryParameterValueMatch: &routev3.RateLimit_Action_QueryParameterValueMatch{
				DescriptorKey: d, DescriptorValue: d, ExpectMatch: wrapperspb.Bool(q.Invert == nil || !*q.Invert),
				QueryParameters: []*routev3.QueryParameterMatcher{{
					Name: q.Name, QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}}},
			}}}, d, d}, true
	}
	c.fail(qf+".type", string(t), "allowed Exact, RegularExpression, Distinct")
	return rlStep{}, false
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
// routes use, in Envoy Gateway's order (by filter name): the listener's own, plus
// one per policy with shared rules. The failure mode and timeout are Envoy
// Gateway's EnvoyGateway rateLimit.failClosed and rateLimit.timeout (btp
// render flags, since btp has no EnvoyGateway config).
func (r *renderer) rateLimitFilters(p *port) []*hcmv3.HttpFilter {
	if !p.globalRateLimit {
		return nil
	}
	domains := []string{p.name}
	for d := range p.sharedDomains {
		domains = append(domains, d)
	}
	// Envoy Gateway orders filters of the same kind by name
	// (OrderedHTTPFilters in internal/xds/translator/httpfilters.go).
	sort.Slice(domains, func(i, j int) bool { return rateLimitFilter(domains[i], p.name) < rateLimitFilter(domains[j], p.name) })
	out := make([]*hcmv3.HttpFilter, 0, len(domains))
	for _, d := range domains {
		cfg := &ratelimitv3.RateLimit{
			Domain: d,
			RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
				GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: rateLimitClusterName}}},
				TransportApiVersion: corev3.ApiVersion_V3,
			},
			FailureModeDeny:                r.opts.RateLimitFailClosed,
			DisableXEnvoyRatelimitedHeader: true,
			EnableXRatelimitHeaders:        ratelimitv3.RateLimit_DRAFT_VERSION_03,
		}
		if r.opts.RateLimitTimeout > 0 {
			cfg.Timeout = durationpb.New(r.opts.RateLimitTimeout)
		}
		out = append(out, &hcmv3.HttpFilter{
			Name:       rateLimitFilter(d, p.name),
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)},
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
