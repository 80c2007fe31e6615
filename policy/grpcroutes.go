package policy

import (
	"fmt"
	"regexp"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeGRPC checks g and attaches it like an HTTPRoute (the same
// parentRefs, hostnames and allowedRoutes rules); its rules keep their
// GRPCRouteRule.
func (v *resolver) routeGRPC(g *gwapiv1.GRPCRoute) {
	e := v.errs("GRPCRoute", g)
	if g.Spec.UseDefaultGateways != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	x := v.routes[routeKey{"GRPCRoute", nn(g)}]
	refs := make([][]gwapiv1.BackendRef, len(g.Spec.Rules))
	for i := range g.Spec.Rules {
		for _, b := range g.Spec.Rules[i].BackendRefs {
			refs[i] = append(refs[i], b.BackendRef)
		}
	}
	backends := v.routeBackends(x, refs, e)
	mirrors := make([]map[int]*Backend, len(g.Spec.Rules))
	for i := range g.Spec.Rules {
		for j, f := range g.Spec.Rules[i].Filters {
			if f.RequestMirror != nil {
				mirrors[i] = v.mirror(mirrors[i], g.Namespace, j, f.RequestMirror.BackendRef, fmt.Sprintf("spec.rules[%d].filters[%d].requestMirror", i, j), e)
			}
		}
	}
	v.attachRoute(x, g.Spec.Hostnames, e, func() []*Rule {
		out := make([]*Rule, len(g.Spec.Rules))
		for i := range g.Spec.Rules {
			out[i] = &Rule{Index: i, Name: (*string)(g.Spec.Rules[i].Name), GRPC: &g.Spec.Rules[i], Backends: backends[i], Mirrors: mirrors[i]}
		}
		return out
	})
}

// grpcRouteRules are the x-kubernetes-validations rules of the Gateway API
// v1.6 GRPCRoute CRD (as bundled with Envoy Gateway v1.9.1), with the CRD's
// messages.
var grpcRouteRules = buildGRPCRouteRules()

var (
	grpcServiceChars = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	grpcMethodChars  = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

func buildGRPCRouteRules() []celRule {
	exact := func(s any) bool { return !has(s, "type") || str(s, "type") == "Exact" }
	const method = "spec.rules[].matches[].method"
	rules := []celRule{
		{method, "One or both of 'service' or 'method' must be specified", func(s any) bool {
			return !has(s, "type") || has(s, "service") || has(s, "method")
		}},
		{method, "service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)", func(s any) bool {
			return !exact(s) || !has(s, "service") || grpcServiceChars.MatchString(str(s, "service"))
		}},
		{method, "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)", func(s any) bool {
			return !exact(s) || !has(s, "method") || grpcMethodChars.MatchString(str(s, "method"))
		}},
		parentRefsUnique,
	}
	filterFields := []struct{ typ, field string }{
		{"RequestHeaderModifier", "requestHeaderModifier"}, {"ResponseHeaderModifier", "responseHeaderModifier"},
		{"RequestMirror", "requestMirror"}, {"ExtensionRef", "extensionRef"},
	}
	for _, list := range []string{"spec.rules[].filters", "spec.rules[].backendRefs[].filters"} {
		for _, t := range []string{"RequestHeaderModifier", "ResponseHeaderModifier"} {
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
