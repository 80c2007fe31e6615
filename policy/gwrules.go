package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// httpRouteRules are the x-kubernetes-validations rules of the Gateway API
// v1.6 HTTPRoute CRD (as bundled with Envoy Gateway v1.9.1) that bear on
// what btp renders, with the CRD's messages.
var httpRouteRules = buildHTTPRouteRules()

var pathChars = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)

func buildHTTPRouteRules() []celRule {
	plainPath := func(s any) bool { return in(str(s, "type"), "Exact", "PathPrefix") }
	notIn := func(sub string) func(any) bool {
		return func(s any) bool { return !plainPath(s) || !strings.Contains(str(s, "value"), sub) }
	}
	notEnd := func(suffix string) func(any) bool {
		return func(s any) bool { return !plainPath(s) || !strings.HasSuffix(str(s, "value"), suffix) }
	}
	const match = "spec.rules[].matches[].path"
	const when = " when type one of ['Exact', 'PathPrefix']"
	rules := []celRule{
		{match, "value must be an absolute path and start with '/'" + when, func(s any) bool { return !plainPath(s) || strings.HasPrefix(str(s, "value"), "/") }},
		{match, "must not contain '//'" + when, notIn("//")},
		{match, "must not contain '/./'" + when, notIn("/./")},
		{match, "must not contain '/../'" + when, notIn("/../")},
		{match, "must not contain '%2f'" + when, notIn("%2f")},
		{match, "must not contain '%2F'" + when, notIn("%2F")},
		{match, "must not contain '#'" + when, notIn("#")},
		{match, "must not end with '/..'" + when, notEnd("/..")},
		{match, "must not end with '/.'" + when, notEnd("/.")},
		{match, "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']", func(s any) bool {
			return !plainPath(s) || pathChars.MatchString(str(s, "value"))
		}},
		parentRefsUnique,
		{"spec.rules[]", "RequestRedirect filter must not be used together with backendRefs", func(s any) bool {
			return size(s, "backendRefs") == 0 || all(s, "filters", func(f any) bool { return !has(f, "requestRedirect") })
		}},
		{"spec.rules[].timeouts", "backendRequest timeout cannot be longer than request timeout", func(s any) bool {
			if !has(s, "request") || !has(s, "backendRequest") {
				return true
			}
			req := duration(str(s, "request"))
			return req == 0 || duration(str(s, "backendRequest")) <= req
		}},
	}
	filterFields := []struct{ typ, field string }{
		{"CORS", "cors"}, {"RequestHeaderModifier", "requestHeaderModifier"}, {"ResponseHeaderModifier", "responseHeaderModifier"},
		{"RequestMirror", "requestMirror"}, {"RequestRedirect", "requestRedirect"}, {"URLRewrite", "urlRewrite"},
		{"ExtensionRef", "extensionRef"}, {"ExternalAuth", "externalAuth"},
	}
	for _, list := range []string{"spec.rules[].filters", "spec.rules[].backendRefs[].filters"} {
		rules = append(rules, celRule{list, "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both", func(s any) bool {
			return count(s, "RequestRedirect") == 0 || count(s, "URLRewrite") == 0
		}})
		for _, t := range []string{"CORS", "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"} {
			rules = append(rules, celRule{list, t + " filter cannot be repeated", func(s any) bool { return count(s, t) <= 1 }})
		}
		for _, ff := range filterFields {
			rules = append(rules,
				celRule{list + "[]", fmt.Sprintf("filter.%s must be nil if the filter.type is not %s", ff.field, ff.typ), func(s any) bool {
					return !has(s, ff.field) || str(s, "type") == ff.typ
				}},
				celRule{list + "[]", fmt.Sprintf("filter.%s must be specified for %s filter.type", ff.field, ff.typ), func(s any) bool {
					return has(s, ff.field) || str(s, "type") != ff.typ
				}})
		}
		rules = append(rules, celRule{list + "[].requestMirror", "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter", func(s any) bool {
			return !(has(s, "percent") && has(s, "fraction"))
		}})
	}
	return rules
}

// count is CEL's self.filter(f, f.type == t).size() over a filter list.
func count(list any, t string) int {
	n := 0
	items, _ := list.([]any)
	for _, f := range items {
		if str(f, "type") == t {
			n++
		}
	}
	return n
}

// parentRefsUnique is the parentRefs rule every route CRD shares.
var parentRefsUnique = celRule{"spec.parentRefs", "sectionName or port must be unique when parentRefs includes 2 or more references to the same parent", func(s any) bool {
	seen := map[string]bool{}
	items, _ := s.([]any)
	for _, p := range items {
		k := fmt.Sprint(str(p, "group"), "/", str(p, "kind"), "/", str(p, "namespace"), "/", str(p, "name"), "/", str(p, "sectionName"), "/", get(p, "port"))
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}}
