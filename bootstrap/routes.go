package bootstrap

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// ruleCtx is one HTTPRoute rule under one listener while it is rendered: the
// feature files read spec and write into route, action and the port.
type ruleCtx struct {
	*scope
	r    *renderer
	port *port
	// listener is the Gateway listener (NS/GATEWAY/LISTENER) being rendered.
	listener string
	spec     *egv1a1.BackendTrafficPolicySpec // never nil: empty when no policy applies
	rt       *policy.Route
	rule     *policy.Rule
	route    *routev3.Route       // template cloned for every hostname and match
	action   *routev3.RouteAction // nil when the rule answers directly (no backends)
	// connect makes the route match CONNECT requests (httpUpgrade CONNECT).
	connect bool
	// match is the index in the rule's matches of the route being
	// finalised by perRoute (-1: the rule has no matches).
	match int
	// errsBefore is the error count when the rule started rendering.
	errsBefore int
	// perRoute runs on every clone of route once its name and match are
	// final: for what is keyed by the xDS route name (the global rate limit
	// descriptors, ratelimit.go).
	perRoute []func(route *routev3.Route)
}

func (c *ruleCtx) perFilter(name string, cfg *anypb.Any) {
	if c.route.TypedPerFilterConfig == nil {
		c.route.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	c.route.TypedPerFilterConfig[name] = cfg
}

// rule renders one route rule (HTTPRoute or GRPCRoute) attached to listener
// (NS/GATEWAY/LISTENER).
func (r *renderer) rule(p *port, listener string, rt *policy.Route, rule *policy.Rule) {
	if rule.Spec == nil {
		r2 := *rule
		r2.Spec = &gwapiv1.HTTPRouteRule{}
		rule = &r2
	}
	kind := strings.ToLower(rt.Kind) // httproute, grpcroute: Envoy Gateway's name prefix
	base := fmt.Sprintf("%s/%s/%s/rule/%d", kind, rt.Name.Namespace, rt.Name.Name, rule.Index)
	sc := &scope{
		list:     &r.errs,
		resource: policyResource(rt, rule),
		where:    fmt.Sprintf("%s/%s/%s rule %d, listener %s", kind, rt.Name.Namespace, rt.Name.Name, rule.Index, listener),
	}
	spec := rule.Policy
	if spec == nil {
		spec = &egv1a1.BackendTrafficPolicySpec{}
	}
	before := len(r.errs)
	checkSupported(spec, sc)
	if r.isolate(before, nil) {
		// The policy fails here too: with KeepGoing the rule answers 500.
		r2 := *rule
		r2.Policy, r2.PolicyError = nil, "not rendered by envoy-btp"
		rule, spec = &r2, &egv1a1.BackendTrafficPolicySpec{}
	}
	// Routes are named as Envoy Gateway names them (the name is the global
	// rate limit descriptor): a rule without matches is match -1.
	var matches []*routev3.RouteMatch
	firstMatch := 0
	if rule.GRPC != nil {
		matches, firstMatch = grpcRouteMatches(rt, rule, &r.errs)
	} else {
		checkRuleSpec(rt, rule, &r.errs)
		matches, firstMatch = httpRouteMatches(rule.Spec)
	}
	if len(r.errs) > before {
		return
	}
	c := &ruleCtx{scope: sc, r: r, port: p, listener: listener, spec: spec, rt: rt, rule: rule, route: &routev3.Route{}, errsBefore: before}
	if rule.PolicyError != "" {
		failedPolicyRoute(c)
	} else {
		clusters := r.clusterNames()
		c.rendered(base)
		if r.isolate(before, clusters) {
			c = &ruleCtx{scope: sc, r: r, port: p, listener: listener, spec: &egv1a1.BackendTrafficPolicySpec{}, rt: rt, rule: rule, route: &routev3.Route{}, errsBefore: before}
			failedPolicyRoute(c)
		}
	}
	if len(r.errs) > before {
		return
	}
	if rule.GRPC != nil {
		p.grpc = true
	}
	c.addRoutes(base, matches, firstMatch)
}

// rendered fills c.route from the rule and its policy.
func (c *ruleCtx) rendered(base string) {
	rule := c.rule
	c.backends(base)
	routeFilters(c)
	if c.action != nil {
		c.route.Action = &routev3.Route_Route{Route: c.action}
		loadBalancerRoute(c)
		timeoutRoute(c)
		retryRoute(c)
		if rule.GRPC == nil {
			upgradeRoute(c) // gRPC routes carry no upgrade_configs in Envoy Gateway
		}
	}
	rateLimitRoute(c)
	bandwidthLimitRoute(c)
	compressionRoute(c)
	telemetryRoute(c)
	perRouteConfig(c)
}

// addRoutes adds c.route to the virtual host of each hostname, once per
// match, under Envoy Gateway's route names.
func (c *ruleCtx) addRoutes(base string, matches []*routev3.RouteMatch, firstMatch int) {
	hosts := c.rt.Hostnames
	if len(hosts) == 0 {
		hosts = []string{"*"}
	}
	for _, h := range hosts {
		vh := c.port.vhost(h)
		for mi, m := range matches {
			route := proto.Clone(c.route).(*routev3.Route)
			route.Name = fmt.Sprintf("%s/match/%d/%s", base, firstMatch+mi, underscored(h))
			route.Match = proto.Clone(m).(*routev3.RouteMatch)
			if c.connect {
				route.Match.PathSpecifier = &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}
			}
			c.match = firstMatch + mi
			for _, f := range c.perRoute {
				f(route)
			}
			vh.Routes = append(vh.Routes, route)
		}
	}
}

// httpRouteMatches renders an HTTPRoute rule's matches; a rule without any
// matches everything, as match -1 (first is the first match's number).
func httpRouteMatches(s *gwapiv1.HTTPRouteRule) (out []*routev3.RouteMatch, first int) {
	matches := s.Matches
	if len(matches) == 0 {
		matches, first = []gwapiv1.HTTPRouteMatch{{}}, -1
	}
	for i := range matches {
		out = append(out, routeMatch(&matches[i]))
	}
	return out, first
}

// policyResource names the policy a rule's settings came from (the most
// specific one), or the route when no policy applies.
func policyResource(rt *policy.Route, rule *policy.Rule) string {
	if len(rule.PolicySources) > 0 {
		s := rule.PolicySources[0]
		return "BackendTrafficPolicy/" + s.Namespace + "/" + s.Name
	}
	return rt.Kind + "/" + rt.Name.Namespace + "/" + rt.Name.Name
}

// checkRuleSpec rejects the HTTPRoute rule fields envoy-btp does not render.
func checkRuleSpec(rt *policy.Route, rule *policy.Rule, list *policy.ErrorList) {
	sc := &scope{list: list, resource: "HTTPRoute/" + rt.Name.Namespace + "/" + rt.Name.Name}
	f := fmt.Sprintf("spec.rules[%d]", rule.Index)
	s := rule.Spec
	if s.Retry != nil {
		sc.fail(f+".retry", nil, "is not supported by envoy-btp; use a BackendTrafficPolicy retry")
	}
	if s.SessionPersistence != nil {
		sc.fail(f+".sessionPersistence", nil, "is not supported by envoy-btp; use loadBalancer.consistentHash cookie")
	}
	for i, m := range s.Matches {
		mf := fmt.Sprintf("%s.matches[%d]", f, i)
		if m.Path != nil && m.Path.Type != nil {
			switch *m.Path.Type {
			case gwapiv1.PathMatchExact, gwapiv1.PathMatchPathPrefix:
				if v := m.Path.Value; v != nil && (!strings.HasPrefix(*v, "/") || strings.ContainsAny(*v, "?#")) {
					sc.fail(mf+".path.value", *v, "allowed a path starting with / and without ? or #")
				}
			case gwapiv1.PathMatchRegularExpression:
				if m.Path.Value != nil {
					checkRegex(sc, mf+".path.value", *m.Path.Value)
				}
			default:
				sc.fail(mf+".path.type", string(*m.Path.Type), "allowed Exact, PathPrefix, RegularExpression")
			}
		}
		for j, h := range m.Headers {
			switch {
			case h.Type == nil || *h.Type == gwapiv1.HeaderMatchExact:
			case *h.Type == gwapiv1.HeaderMatchRegularExpression:
				checkRegex(sc, fmt.Sprintf("%s.headers[%d].value", mf, j), h.Value)
			default:
				sc.fail(fmt.Sprintf("%s.headers[%d].type", mf, j), string(*h.Type), "allowed Exact, RegularExpression")
			}
		}
		for j, q := range m.QueryParams {
			switch {
			case q.Type == nil || *q.Type == gwapiv1.QueryParamMatchExact:
			case *q.Type == gwapiv1.QueryParamMatchRegularExpression:
				checkRegex(sc, fmt.Sprintf("%s.queryParams[%d].value", mf, j), q.Value)
			default:
				sc.fail(fmt.Sprintf("%s.queryParams[%d].type", mf, j), string(*q.Type), "allowed Exact, RegularExpression")
			}
		}
	}
}

// routeMatch renders one HTTPRouteMatch the way Envoy Gateway does: a prefix
// matches whole path segments ("/api" matches "/api/x", not "/apix").
func routeMatch(m *gwapiv1.HTTPRouteMatch) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m.Path != nil && m.Path.Value != nil {
		v := *m.Path.Value
		t := gwapiv1.PathMatchPathPrefix
		if m.Path.Type != nil {
			t = *m.Path.Type
		}
		switch t {
		case gwapiv1.PathMatchExact:
			rm.PathSpecifier = &routev3.RouteMatch_Path{Path: v}
		case gwapiv1.PathMatchRegularExpression:
			rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}
		default:
			if v != "/" {
				rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: strings.TrimSuffix(v, "/")}
			}
		}
	}
	if m.Method != nil {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(string(*m.Method))},
		})
	}
	for _, h := range m.Headers {
		sm := exact(h.Value)
		if h.Type != nil && *h.Type == gwapiv1.HeaderMatchRegularExpression {
			sm = regex(h.Value)
		}
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 string(h.Name),
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm},
		})
	}
	for _, q := range m.QueryParams {
		sm := exact(q.Value)
		if q.Type != nil && *q.Type == gwapiv1.QueryParamMatchRegularExpression {
			sm = regex(q.Value)
		}
		rm.QueryParameters = append(rm.QueryParameters, &routev3.QueryParameterMatcher{
			Name:                         string(q.Name),
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm},
		})
	}
	return rm
}

// checkRegex refuses what Envoy's RE2 would refuse at load time (Go's
// regexp implements the same syntax).
func checkRegex(sc *scope, field, re string) {
	if _, err := regexp.Compile(re); err != nil {
		sc.fail(field, re, "is not a valid RE2 regular expression: "+err.Error())
	}
}

func exact(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func regex(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}}
}

// sortRoutes orders a virtual host's routes by Gateway API precedence: exact
// paths, then regular expressions, then the longest prefix; then a method
// match, more header matches, more query matches. Ties keep input order
// (oldest route first, then rule and match order).
func sortRoutes(rs []*routev3.Route) {
	type key struct{ kind, length, method, headers, queries int }
	k := func(r *routev3.Route) key {
		m := r.GetMatch()
		var out key
		switch p := m.GetPathSpecifier().(type) {
		case *routev3.RouteMatch_Path:
			out.kind, out.length = 0, len(p.Path)
		case *routev3.RouteMatch_SafeRegex:
			out.kind, out.length = 1, len(p.SafeRegex.GetRegex())
		case *routev3.RouteMatch_PathSeparatedPrefix:
			out.kind, out.length = 2, len(p.PathSeparatedPrefix)
		case *routev3.RouteMatch_Prefix:
			out.kind, out.length = 2, len(p.Prefix)
		}
		for _, h := range m.GetHeaders() {
			if h.GetName() == ":method" {
				out.method = 1
			} else {
				out.headers++
			}
		}
		out.queries = len(m.GetQueryParameters())
		return out
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := k(rs[i]), k(rs[j])
		switch {
		case a.kind != b.kind:
			return a.kind < b.kind
		case a.length != b.length:
			return a.length > b.length
		case a.method != b.method:
			return a.method > b.method
		case a.headers != b.headers:
			return a.headers > b.headers
		}
		return a.queries > b.queries
	})
}

func underscored(host string) string { return strings.ReplaceAll(host, ".", "_") }

func u32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
