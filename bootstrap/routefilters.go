package bootstrap

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Route rule filters (HTTPRoute and GRPCRoute spec.rules[].filters and
// backendRefs[].filters) rendered with the Envoy route fields Envoy
// Gateway's translator (internal/xds/translator/route.go) sets, after the
// checks of its internal/gatewayapi/filters.go. Where Envoy Gateway would
// drop an invalid part and accept the rest, btp refuses the render instead
// (it never silently drops a field).

// headerValue is Envoy Gateway's HeaderValueRegexp: printable ASCII,
// single spaces or tabs between words.
var headerValue = regexp.MustCompile(`^[!-~]+([\t ]?[!-~]+)*$`)

// ruleFilters are the rule's filters; a GRPCRoute's filter types are a
// subset of an HTTPRoute's with the same payloads.
func ruleFilters(c *ruleCtx) []gwapiv1.HTTPRouteFilter {
	if c.rule.GRPC == nil {
		return c.rule.Spec.Filters
	}
	return grpcToHTTPFilters(c.rule.GRPC.Filters)
}

func grpcToHTTPFilters(in []gwapiv1.GRPCRouteFilter) []gwapiv1.HTTPRouteFilter {
	out := make([]gwapiv1.HTTPRouteFilter, len(in))
	for i, f := range in {
		out[i] = gwapiv1.HTTPRouteFilter{
			Type:                   gwapiv1.HTTPRouteFilterType(f.Type),
			RequestHeaderModifier:  f.RequestHeaderModifier,
			ResponseHeaderModifier: f.ResponseHeaderModifier,
			RequestMirror:          f.RequestMirror,
			ExtensionRef:           f.ExtensionRef,
		}
	}
	return out
}

// routeFilters renders the rule's filters on c.route and c.action; it runs
// after backends (which made the action, or a 500 without backends).
func routeFilters(c *ruleCtx) {
	sc := &scope{list: c.list, resource: c.rt.Kind + "/" + c.rt.Name.Namespace + "/" + c.rt.Name.Name, where: c.where}
	f := fmt.Sprintf("spec.rules[%d]", c.rule.Index)
	var (
		redirect  *gwapiv1.HTTPRequestRedirectFilter
		rewrite   *gwapiv1.HTTPURLRewriteFilter
		mirrors   []*routev3.RouteAction_RequestMirrorPolicy
		mirrorAt  string
		redirectF string
	)
	for j, flt := range ruleFilters(c) {
		ff := fmt.Sprintf("%s.filters[%d]", f, j)
		switch flt.Type {
		case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
			add, rm := headerModifier(sc, ff+".requestHeaderModifier", flt.RequestHeaderModifier)
			c.route.RequestHeadersToAdd = append(c.route.RequestHeadersToAdd, add...)
			c.route.RequestHeadersToRemove = append(c.route.RequestHeadersToRemove, rm...)
		case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
			add, rm := headerModifier(sc, ff+".responseHeaderModifier", flt.ResponseHeaderModifier)
			c.route.ResponseHeadersToAdd = append(c.route.ResponseHeadersToAdd, add...)
			c.route.ResponseHeadersToRemove = append(c.route.ResponseHeadersToRemove, rm...)
		case gwapiv1.HTTPRouteFilterURLRewrite:
			rewrite = flt.URLRewrite
			checkURLRewrite(sc, ff+".urlRewrite", rewrite)
		case gwapiv1.HTTPRouteFilterRequestRedirect:
			redirect, redirectF = flt.RequestRedirect, ff+".requestRedirect"
			checkRedirect(sc, redirectF, redirect)
		case gwapiv1.HTTPRouteFilterRequestMirror:
			mirrorAt = ff + ".requestMirror"
			if mp := c.mirrorPolicy(sc, mirrorAt, j, flt.RequestMirror); mp != nil {
				mirrors = append(mirrors, mp)
			}
		default:
			sc.fail(ff+".type", string(flt.Type), "is not supported by envoy-btp: allowed RequestHeaderModifier, ResponseHeaderModifier, URLRewrite, RequestRedirect, RequestMirror")
		}
	}
	switch {
	case redirect != nil && mirrorAt != "":
		// Envoy Gateway drops the redirect and marks the route not accepted.
		sc.fail(mirrorAt, nil, "a RequestMirror filter cannot be used together with RequestRedirect")
	case redirect != nil:
		c.action = nil
		c.route.Action = &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{}}
		c.perRoute = append(c.perRoute, func(route *routev3.Route) {
			route.Action = &routev3.Route_Redirect{Redirect: redirectAction(redirect, c.matchPrefix())}
		})
	case c.action == nil && mirrorAt != "":
		sc.fail(mirrorAt, nil, "a rule without a usable backendRef answers 500 and mirrors nothing: add a backendRef or remove the filter")
	}
	if c.action != nil {
		c.action.RequestMirrorPolicies = mirrors
		if rewrite != nil {
			action := c.action
			c.perRoute = append(c.perRoute, func(route *routev3.Route) {
				urlRewrite(route.GetRoute(), rewrite, c.matchPrefix())
			})
			if rewrite.Hostname != nil {
				action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: string(*rewrite.Hostname)}
				// Envoy Gateway keeps the client's host in x-forwarded-host.
				action.AppendXForwardedHost = true
			}
		}
	}
	backendRefFilters(c, sc, f)
}

// matchPrefix is the PathPrefix value of the match being finalised (the
// CRD's default "/" when the match has no path or the rule no match), or
// nil for Exact and RegularExpression paths (GRPCRoute: always nil).
func (c *ruleCtx) matchPrefix() *string {
	if c.rule.GRPC != nil {
		return nil
	}
	root := "/"
	ms := c.rule.Spec.Matches
	if c.match < 0 || c.match >= len(ms) || ms[c.match].Path == nil || ms[c.match].Path.Value == nil {
		return &root
	}
	p := ms[c.match].Path
	if p.Type != nil && *p.Type != gwapiv1.PathMatchPathPrefix {
		return nil
	}
	return p.Value
}

// headerModifier checks a Request/ResponseHeaderModifier as Envoy Gateway
// does and renders it: add appends, set overwrites, a header named twice
// (case-insensitively) keeps its first entry, adds before sets.
func headerModifier(sc *scope, f string, h *gwapiv1.HTTPHeaderFilter) (add []*corev3.HeaderValueOption, remove []string) {
	if h == nil {
		return nil, nil
	}
	seen := map[string]bool{}
	one := func(field string, hd gwapiv1.HTTPHeader, action corev3.HeaderValueOption_HeaderAppendAction) {
		name := string(hd.Name)
		switch {
		case name == "":
			sc.fail(field+".name", name, "a header name must not be empty")
			return
		case !modifiableHeader(name):
			sc.fail(field+".name", name, "cannot modify the Host header, pseudo-headers or names with '/' or ':' (use URLRewrite hostname for Host)")
			return
		case !headerValue.MatchString(hd.Value):
			sc.fail(field+".value", hd.Value, "is not a valid header value (printable ASCII, single spaces between words)")
			return
		}
		if seen[strings.ToLower(name)] {
			return
		}
		seen[strings.ToLower(name)] = true
		add = append(add, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: name, Value: hd.Value},
			AppendAction: action,
		})
	}
	for i, hd := range h.Add {
		one(fmt.Sprintf("%s.add[%d]", f, i), hd, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	}
	for i, hd := range h.Set {
		one(fmt.Sprintf("%s.set[%d]", f, i), hd, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	}
	removed := map[string]bool{}
	for i, name := range h.Remove {
		switch {
		case name == "":
			sc.fail(fmt.Sprintf("%s.remove[%d]", f, i), name, "a header name must not be empty")
		case !modifiableHeader(name):
			sc.fail(fmt.Sprintf("%s.remove[%d]", f, i), name, "cannot remove the Host header, pseudo-headers or names with '/' or ':'")
		case !removed[strings.ToLower(name)]:
			removed[strings.ToLower(name)] = true
			remove = append(remove, name)
		}
	}
	return add, remove
}

// modifiableHeader is Envoy Gateway's isModifiableHeader.
func modifiableHeader(name string) bool {
	return !strings.ContainsAny(name, "/:") && !strings.EqualFold(name, "host")
}

// checkHostname is Envoy Gateway's validateHostname: an RFC 1123
// subdomain, not an IP address.
func checkHostname(sc *scope, f string, h *gwapiv1.PreciseHostname) {
	if h == nil {
		return
	}
	if errs := validation.IsDNS1123Subdomain(string(*h)); errs != nil {
		sc.fail(f, string(*h), "is not a valid hostname: "+strings.Join(errs, "; "))
	} else if _, err := netip.ParseAddr(string(*h)); err == nil {
		sc.fail(f, string(*h), "must be a hostname, not an IP address")
	}
}

// checkPathModifier refuses what Envoy Gateway refuses of a path modifier.
func checkPathModifier(sc *scope, f string, p *gwapiv1.HTTPPathModifier) {
	if p == nil {
		return
	}
	switch p.Type {
	case gwapiv1.FullPathHTTPPathModifier:
		if p.ReplacePrefixMatch != nil {
			sc.fail(f+".replacePrefixMatch", *p.ReplacePrefixMatch, "cannot be set when the type is ReplaceFullPath")
		}
		if p.ReplaceFullPath == nil {
			sc.fail(f+".replaceFullPath", nil, "must be set when the type is ReplaceFullPath")
		}
	case gwapiv1.PrefixMatchHTTPPathModifier:
		if p.ReplaceFullPath != nil {
			sc.fail(f+".replaceFullPath", *p.ReplaceFullPath, "cannot be set when the type is ReplacePrefixMatch")
		}
		if p.ReplacePrefixMatch == nil {
			sc.fail(f+".replacePrefixMatch", nil, "must be set when the type is ReplacePrefixMatch")
		}
	default:
		sc.fail(f+".type", string(p.Type), "allowed ReplaceFullPath, ReplacePrefixMatch")
	}
}

func checkURLRewrite(sc *scope, f string, r *gwapiv1.HTTPURLRewriteFilter) {
	if r == nil {
		return
	}
	checkHostname(sc, f+".hostname", r.Hostname)
	checkPathModifier(sc, f+".path", r.Path)
}

func checkRedirect(sc *scope, f string, r *gwapiv1.HTTPRequestRedirectFilter) {
	if r == nil {
		return
	}
	if r.Scheme != nil && *r.Scheme != "http" && *r.Scheme != "https" {
		sc.fail(f+".scheme", *r.Scheme, "allowed http, https")
	}
	checkHostname(sc, f+".hostname", r.Hostname)
	checkPathModifier(sc, f+".path", r.Path)
	if r.StatusCode != nil {
		if _, ok := redirectCodes[*r.StatusCode]; !ok {
			sc.fail(f+".statusCode", *r.StatusCode, "allowed 301, 302, 303, 307, 308")
		}
	}
}

// redirectCodes are the redirect codes Envoy Gateway renders (301 is
// Envoy's default, so it sets nothing for it).
var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirectAction is Envoy Gateway's buildXdsRedirectAction for one match
// (prefix is its PathPrefix value, nil for other path matches).
func redirectAction(r *gwapiv1.HTTPRequestRedirectFilter, prefix *string) *routev3.RedirectAction {
	a := &routev3.RedirectAction{}
	if r.Scheme != nil {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: *r.Scheme}
	}
	if p := r.Path; p != nil {
		switch {
		case p.Type == gwapiv1.FullPathHTTPPathModifier && p.ReplaceFullPath != nil:
			a.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *p.ReplaceFullPath}
		case p.Type == gwapiv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil:
			if rootReplace(prefix, *p.ReplacePrefixMatch) {
				a.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: prefixRegexRewrite(*prefix)}
			} else {
				a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: *p.ReplacePrefixMatch}
			}
		}
	}
	if r.Hostname != nil {
		a.HostRedirect = string(*r.Hostname)
	}
	// A well-known port would show in the Location header: Envoy Gateway
	// leaves it out.
	if r.Port != nil && *r.Port != 80 && *r.Port != 443 {
		a.PortRedirect = uint32(*r.Port)
	}
	if r.StatusCode != nil {
		a.ResponseCode = redirectCodes[*r.StatusCode]
	}
	return a
}

// rootReplace is Envoy Gateway's useRegexRewriteForPrefixMatchReplace:
// replacing a prefix with "/" or "" through prefix_rewrite leaves "//"
// (envoyproxy/envoy#26055), so a regex rewrite does it.
func rootReplace(prefix *string, replace string) bool {
	return prefix != nil && (replace == "" || replace == "/")
}

func prefixRegexRewrite(prefix string) *matcherv3.RegexMatchAndSubstitute {
	return &matcherv3.RegexMatchAndSubstitute{
		Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(prefix) + `\/*`},
		Substitution: "/",
	}
}

// urlRewrite renders the path part of a URLRewrite on one match's action,
// as Envoy Gateway's buildXdsURLRewriteAction.
func urlRewrite(a *routev3.RouteAction, r *gwapiv1.HTTPURLRewriteFilter, prefix *string) {
	p := r.Path
	if a == nil || p == nil {
		return
	}
	switch {
	case p.Type == gwapiv1.FullPathHTTPPathModifier && p.ReplaceFullPath != nil:
		a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^/.*$"},
			Substitution: *p.ReplaceFullPath,
		}
	case p.Type == gwapiv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil:
		if rootReplace(prefix, *p.ReplacePrefixMatch) {
			a.RegexRewrite = prefixRegexRewrite(*prefix)
		} else {
			// The match's trailing "/" is gone from the rendered prefix, so
			// the replacement's would double it (envoyproxy/gateway#3989).
			a.PrefixRewrite = strings.TrimSuffix(*p.ReplacePrefixMatch, "/")
		}
	}
}

// mirrorPolicy renders a RequestMirror filter (the j-th filter) as Envoy
// Gateway does: its own cluster named <rule>-mirror-<j>, 100% unless
// percent or fraction say otherwise, nothing for 0%.
func (c *ruleCtx) mirrorPolicy(sc *scope, f string, j int, m *gwapiv1.HTTPRequestMirrorFilter) *routev3.RouteAction_RequestMirrorPolicy {
	b := c.rule.Mirrors[j]
	if m == nil || b == nil || c.action == nil {
		return nil // unresolved refs were reported by policy
	}
	pct := &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}
	var p float32 = -1
	switch {
	case m.Fraction != nil:
		den := int32(100)
		if m.Fraction.Denominator != nil {
			den = *m.Fraction.Denominator
		}
		if den <= 0 {
			sc.fail(f+".fraction.denominator", den, "allowed a positive denominator")
			return nil
		}
		p = 100 * float32(m.Fraction.Numerator) / float32(den)
	case m.Percent != nil:
		p = float32(*m.Percent)
	}
	if p == 0 {
		return nil
	}
	if p > 0 {
		pct = &typev3.FractionalPercent{Numerator: uint32(p * 10000), Denominator: typev3.FractionalPercent_MILLION}
	}
	t := c.template(c.upstreamProtocol(b))
	if t == nil {
		return nil
	}
	kind := strings.ToLower(c.rt.Kind)
	name := c.r.addCluster(t.build(fmt.Sprintf("%s/%s/%s/rule/%d-mirror-%d", kind, c.rt.Name.Namespace, c.rt.Name.Name, c.rule.Index, j), b))
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster:         name,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: pct},
		// The mirror has its own cluster, enough to tell its traffic apart.
		DisableShadowHostSuffixAppend: true,
	}
}

// hasBackendFilters reports whether any backendRef of the rule carries
// filters: Envoy Gateway then renders a weighted cluster per backend, even
// for one, to carry them.
func hasBackendFilters(c *ruleCtx) bool {
	return len(backendRefFilterLists(c)) > 0
}

// backendRefFilterLists are the rule's backendRefs' filters by backendRef
// index (absent when none).
func backendRefFilterLists(c *ruleCtx) map[int][]gwapiv1.HTTPRouteFilter {
	out := map[int][]gwapiv1.HTTPRouteFilter{}
	if c.rule.GRPC != nil {
		for i, b := range c.rule.GRPC.BackendRefs {
			if len(b.Filters) > 0 {
				out[i] = grpcToHTTPFilters(b.Filters)
			}
		}
		return out
	}
	for i, b := range c.rule.Spec.BackendRefs {
		if len(b.Filters) > 0 {
			out[i] = b.Filters
		}
	}
	return out
}

// backendRefFilters renders backendRefs[].filters on each backend's
// weighted cluster entry, the parts Envoy Gateway's
// applyWeightedClusterFilters renders (header modifiers, URLRewrite
// hostname); the rest is refused, since Envoy Gateway would drop it.
func backendRefFilters(c *ruleCtx, sc *scope, f string) {
	lists := backendRefFilterLists(c)
	if len(lists) == 0 {
		return
	}
	var entries []*routev3.WeightedCluster_ClusterWeight
	if c.action != nil {
		entries = c.action.GetWeightedClusters().GetClusters()
	}
	entry := map[int]*routev3.WeightedCluster_ClusterWeight{}
	n := 0
	for i, b := range c.rule.Backends {
		if b.Weight > 0 && n < len(entries) {
			entry[i] = entries[n]
			n++
		}
	}
	for i := 0; i < len(c.rule.Backends)+len(lists); i++ {
		list, ok := lists[i]
		if !ok {
			continue
		}
		cw := entry[i]
		for j, flt := range list {
			ff := fmt.Sprintf("%s.backendRefs[%d].filters[%d]", f, i, j)
			switch flt.Type {
			case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
				add, rm := headerModifier(sc, ff+".requestHeaderModifier", flt.RequestHeaderModifier)
				if cw != nil {
					cw.RequestHeadersToAdd = append(cw.RequestHeadersToAdd, add...)
					cw.RequestHeadersToRemove = append(cw.RequestHeadersToRemove, rm...)
				}
			case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
				add, rm := headerModifier(sc, ff+".responseHeaderModifier", flt.ResponseHeaderModifier)
				if cw != nil {
					cw.ResponseHeadersToAdd = append(cw.ResponseHeadersToAdd, add...)
					cw.ResponseHeadersToRemove = append(cw.ResponseHeadersToRemove, rm...)
				}
			case gwapiv1.HTTPRouteFilterURLRewrite:
				r := flt.URLRewrite
				checkURLRewrite(sc, ff+".urlRewrite", r)
				if r != nil && r.Path != nil {
					sc.fail(ff+".urlRewrite.path", nil, "a backendRef URLRewrite can only rewrite the hostname (Envoy Gateway drops the path): move it to the rule's filters")
				}
				if r != nil && r.Hostname != nil && cw != nil {
					cw.HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: string(*r.Hostname)}
				}
			default:
				sc.fail(ff+".type", string(flt.Type), "is not supported on a backendRef by envoy-btp: allowed RequestHeaderModifier, ResponseHeaderModifier, URLRewrite (hostname)")
			}
		}
	}
}
