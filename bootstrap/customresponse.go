package bootstrap

import (
	"fmt"
	"strconv"
	"strings"

	expr "cel.dev/expr"
	cncfv3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	crv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	localpolicyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/local_response_policy/v3"
	redirectpolicyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/redirect_policy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"

	"github.com/envoy-btp/envoy-btp/config"
)

// A responseOverride with a redirect is rendered the way Envoy Gateway
// renders every responseOverride (internal/xds/translator/custom_response.go):
// Envoy's custom_response filter, first in the chain, disabled on the
// listener and enabled on the route. Its redirect is an internal redirect
// (custom_response's RedirectPolicy rewrites the request's scheme, host,
// port and path and re-runs it through the route table with
// recreateStream; the client gets that response with the redirect's
// statusCode, not a Location header), which neither SDK the btp filter runs
// on can do. The whole responseOverride of such a rule goes to the native
// filter, so its entries keep their first-match order; the btp filter
// carries none of it. Rules without a redirect keep the engine's
// responseOverride (docs/engine.md), which follows the same semantics.

const customResponseFilter = "envoy.filters.http.custom_response"

// hasRedirect reports whether the rule's responseOverride needs the native
// filter.
func hasRedirect(list []*egv1a1.ResponseOverride) bool {
	for _, ro := range list {
		if ro != nil && ro.Redirect != nil {
			return true
		}
	}
	return false
}

// nativeResponseOverride renders the rule's responseOverride as the
// listener's custom_response filter for this route.
func nativeResponseOverride(c *ruleCtx) {
	base := fmt.Sprintf("%s/%s/%s/rule/%d", strings.ToLower(c.rt.Kind), c.rt.Name.Namespace, c.rt.Name.Name, c.rule.Index)
	cr := &crv3.CustomResponse{CustomResponseMatcher: &xdsmatcherv3.Matcher{
		MatcherType: &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{}},
	}}
	list := cr.CustomResponseMatcher.GetMatcherList()
	for i, ro := range c.spec.ResponseOverride {
		f := fmt.Sprintf("spec.responseOverride[%d]", i)
		pred, ok := crPredicate(c, f, ro)
		if !ok {
			return
		}
		action, ok := crAction(c, f, fmt.Sprintf("%s/responseoverride/rule/%d", base, i), ro)
		if !ok {
			return
		}
		list.Matchers = append(list.Matchers, &xdsmatcherv3.Matcher_MatcherList_FieldMatcher{
			Predicate: pred,
			OnMatch:   &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{Action: action}},
		})
	}
	name := customResponseFilter + "/" + base
	c.port.customResponses[name] = &hcmv3.HttpFilter{
		Name:       name,
		Disabled:   true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cr)},
	}
	// Enabled on this route only, as Envoy Gateway's patchRoute does.
	c.perFilter(name, mustAny(&routev3.FilterConfig{Config: &anypb.Any{}}))
}

// crPredicate: any of the status codes, all of the headers, and the
// source, AND-ed, as Envoy Gateway builds them.
func crPredicate(c *ruleCtx, f string, ro *egv1a1.ResponseOverride) (*xdsmatcherv3.Matcher_MatcherList_Predicate, bool) {
	var and []*xdsmatcherv3.Matcher_MatcherList_Predicate
	var codes []*xdsmatcherv3.Matcher_MatcherList_Predicate
	for j, sc := range ro.Match.StatusCodes {
		switch {
		case sc.Type != nil && *sc.Type == egv1a1.StatusCodeValueTypeRange && sc.Range != nil:
			codes = append(codes, single(typed("http-attributes-cel-match-input", &xdsmatcherv3.HttpAttributesCelMatchInput{}),
				customMatch(typed("cel-matcher", statusRangeCEL(sc.Range.Start, sc.Range.End)))))
		case sc.Value != nil:
			codes = append(codes, single(typed("http-response-status-code-match-input", &matcherv3.HttpResponseStatusCodeMatchInput{}),
				valueMatch(&xdsmatcherv3.StringMatcher{MatchPattern: &xdsmatcherv3.StringMatcher_Exact{Exact: strconv.Itoa(*sc.Value)}})))
		default:
			c.fail(fmt.Sprintf("%s.match.statusCodes[%d]", f, j), nil, "needs a value or a range")
			return nil, false
		}
	}
	if len(codes) > 0 {
		and = append(and, orOf(codes))
	}
	var headers []*xdsmatcherv3.Matcher_MatcherList_Predicate
	for j, h := range ro.Match.ResponseHeaders {
		m := &xdsmatcherv3.StringMatcher{}
		t := egv1a1.StringMatchExact
		if h.Value.Type != nil {
			t = *h.Value.Type
		}
		switch t {
		case egv1a1.StringMatchExact:
			m.MatchPattern = &xdsmatcherv3.StringMatcher_Exact{Exact: h.Value.Value}
		case egv1a1.StringMatchPrefix:
			m.MatchPattern = &xdsmatcherv3.StringMatcher_Prefix{Prefix: h.Value.Value}
		case egv1a1.StringMatchSuffix:
			m.MatchPattern = &xdsmatcherv3.StringMatcher_Suffix{Suffix: h.Value.Value}
		case egv1a1.StringMatchRegularExpression:
			m.MatchPattern = &xdsmatcherv3.StringMatcher_SafeRegex{SafeRegex: &xdsmatcherv3.RegexMatcher{Regex: h.Value.Value,
				EngineType: &xdsmatcherv3.RegexMatcher_GoogleRe2{GoogleRe2: &xdsmatcherv3.RegexMatcher_GoogleRE2{}}}}
		default:
			c.fail(fmt.Sprintf("%s.match.responseHeaders[%d].value.type", f, j), string(t), "allowed Exact, Prefix, Suffix, RegularExpression")
			return nil, false
		}
		headers = append(headers, single(typed("http-response-header-match-input", &matcherv3.HttpResponseHeaderMatchInput{HeaderName: string(h.Name)}), valueMatch(m)))
	}
	if len(headers) > 0 {
		and = append(and, andOf(headers))
	}
	if len(and) == 0 {
		c.fail(f+".match", nil, "needs statusCodes, responseHeaders or both")
		return nil, false
	}
	if ro.Source != nil && (*ro.Source == egv1a1.ResponseOverrideSourceLocal || *ro.Source == egv1a1.ResponseOverrideSourceBackend) {
		local := "false"
		if *ro.Source == egv1a1.ResponseOverrideSourceLocal {
			local = "true"
		}
		and = append(and, single(typed("http-response-local-reply-match-input", &matcherv3.HttpResponseLocalReplyMatchInput{}),
			valueMatch(&xdsmatcherv3.StringMatcher{MatchPattern: &xdsmatcherv3.StringMatcher_Exact{Exact: local}})))
	}
	return andOf(and), true
}

func crAction(c *ruleCtx, f, name string, ro *egv1a1.ResponseOverride) (*cncfv3.TypedExtensionConfig, bool) {
	if rd := ro.Redirect; rd != nil {
		ra := &routev3.RedirectAction{}
		if rd.Scheme != nil {
			ra.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: *rd.Scheme}
		}
		if rd.Hostname != nil {
			ra.HostRedirect = string(*rd.Hostname)
		}
		if rd.Port != nil {
			ra.PortRedirect = uint32(*rd.Port)
		}
		if p := rd.Path; p != nil {
			if p.ReplaceFullPath == nil {
				c.fail(f+".redirect.path", nil, "only ReplaceFullPath is supported (as Envoy Gateway)")
				return nil, false
			}
			ra.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *p.ReplaceFullPath}
		}
		status := 302 // the CRD's default
		if rd.StatusCode != nil {
			status = *rd.StatusCode
		}
		if status != 301 && status != 302 {
			c.fail(f+".redirect.statusCode", status, "allowed 301, 302")
			return nil, false
		}
		return typed(name, &redirectpolicyv3.RedirectPolicy{
			RedirectActionSpecifier: &redirectpolicyv3.RedirectPolicy_RedirectAction{RedirectAction: ra},
			StatusCode:              wrapperspb.UInt32(uint32(status)),
		}), true
	}
	r := ro.Response
	if r == nil {
		c.fail(f, nil, "needs exactly one of response and redirect")
		return nil, false
	}
	lp := &localpolicyv3.LocalResponsePolicy{}
	if b := r.Body; b != nil {
		if b.Inline == nil {
			c.fail(f+".response.body", nil, "has no inline body (a valueRef's ConfigMap must be among the inputs)")
			return nil, false
		}
		if *b.Inline != "" {
			if err := config.ValidateFormat(*b.Inline); err != nil {
				c.fail(f+".response.body", nil, "an Envoy format string: "+err.Error())
				return nil, false
			}
			lp.BodyFormat = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormat{TextFormat: *b.Inline}}
		}
	}
	if r.StatusCode != nil {
		if *r.StatusCode < 100 || *r.StatusCode > 599 {
			c.fail(f+".response.statusCode", *r.StatusCode, "allowed 100-599")
			return nil, false
		}
		lp.StatusCode = wrapperspb.UInt32(uint32(*r.StatusCode))
	}
	// The same format strings as the engine's, so a policy means the same
	// whichever filter carries it.
	var formats [][2]string // field, format
	if r.ContentType != nil {
		formats = append(formats, [2]string{f + ".response.contentType", *r.ContentType})
	}
	if h := r.Header; h != nil {
		for j, kv := range h.Add {
			formats = append(formats, [2]string{fmt.Sprintf("%s.response.header.add[%d].value", f, j), kv.Value})
		}
		for j, kv := range h.Set {
			formats = append(formats, [2]string{fmt.Sprintf("%s.response.header.set[%d].value", f, j), kv.Value})
		}
	}
	for _, fv := range formats {
		if err := config.ValidateFormat(fv[1]); err != nil {
			c.fail(fv[0], nil, "an Envoy format string: "+err.Error())
			return nil, false
		}
	}
	if r.ContentType != nil && *r.ContentType != "" {
		lp.ResponseHeadersToAdd = append(lp.ResponseHeadersToAdd, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "Content-Type", Value: *r.ContentType},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	if h := r.Header; h != nil {
		for _, kv := range h.Add {
			lp.ResponseHeadersToAdd = append(lp.ResponseHeadersToAdd, headerOption(string(kv.Name), kv.Value, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
		}
		for _, kv := range h.Set {
			lp.ResponseHeadersToAdd = append(lp.ResponseHeadersToAdd, headerOption(string(kv.Name), kv.Value, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
		}
	}
	return typed(name, lp), true
}

func headerOption(name, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: name, Value: value}, AppendAction: action, KeepEmptyValue: value == ""}
}

func typed(name string, m proto.Message) *cncfv3.TypedExtensionConfig {
	return &cncfv3.TypedExtensionConfig{Name: name, TypedConfig: mustAny(m)}
}

func valueMatch(m *xdsmatcherv3.StringMatcher) *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate {
	return &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
		Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: m},
	}
}

func customMatch(m *cncfv3.TypedExtensionConfig) *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate {
	return &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
		Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch{CustomMatch: m},
	}
}

func single(input *cncfv3.TypedExtensionConfig, sp *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	sp.Input = input
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{SinglePredicate: sp}}
}

func orOf(p []*xdsmatcherv3.Matcher_MatcherList_Predicate) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	if len(p) == 1 {
		return p[0]
	}
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_OrMatcher{
		OrMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: p}}}
}

func andOf(p []*xdsmatcherv3.Matcher_MatcherList_Predicate) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	if len(p) == 1 {
		return p[0]
	}
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_AndMatcher{
		AndMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: p}}}
}

// statusRangeCEL is the CEL matcher Envoy Gateway uses for a status range:
// response.code >= start && response.code <= end, as a parsed expression.
func statusRangeCEL(start, end int) *xdsmatcherv3.CelMatcher {
	code := func(id int64) *expr.Expr {
		return &expr.Expr{Id: id + 1, ExprKind: &expr.Expr_SelectExpr{SelectExpr: &expr.Expr_Select{
			Operand: &expr.Expr{Id: id, ExprKind: &expr.Expr_IdentExpr{IdentExpr: &expr.Expr_Ident{Name: "response"}}},
			Field:   "code",
		}}}
	}
	num := func(id int64, v int) *expr.Expr {
		return &expr.Expr{Id: id, ExprKind: &expr.Expr_ConstExpr{ConstExpr: &expr.Constant{ConstantKind: &expr.Constant_Int64Value{Int64Value: int64(v)}}}}
	}
	call := func(id int64, fn string, args ...*expr.Expr) *expr.Expr {
		return &expr.Expr{Id: id, ExprKind: &expr.Expr_CallExpr{CallExpr: &expr.Expr_Call{Function: fn, Args: args}}}
	}
	e := call(9, "_&&_", call(3, "_>=_", code(1), num(4, start)), call(7, "_<=_", code(5), num(8, end)))
	return &xdsmatcherv3.CelMatcher{ExprMatch: &xdstypev3.CelExpression{CelExprParsed: &expr.ParsedExpr{Expr: e}}}
}
