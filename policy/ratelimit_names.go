package policy

import (
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
)

// globalRuleNames are Envoy Gateway's names of p's rateLimit.global rules,
// NS/POLICY/rule/I: a shared rule's rate limit descriptor and, without the
// /rule/I, its domain.
func globalRuleNames(p *egv1a1.BackendTrafficPolicy) []string {
	rl := p.Spec.RateLimit
	if rl == nil || rl.Global == nil {
		return nil
	}
	names := make([]string, len(rl.Global.Rules))
	for i := range names {
		names[i] = fmt.Sprintf("%s/%s/rule/%d", p.Namespace, p.Name, i)
	}
	return names
}

// mergeGlobalRules sets the global rules of spec, the merge of route into
// parent, as Envoy Gateway merges them, and returns their names. Envoy
// Gateway merges the translated rate limits of the two policies rather than
// their specs (translateBackendTrafficPolicyForRouteWithMerge), so each rule
// keeps its own policy's name; a strategic merge keeps both policies' rules
// (the route's first: the rules merge by name and no two names are equal), a
// JSON merge the route's list when it has one.
func mergeGlobalRules(spec *egv1a1.BackendTrafficPolicySpec, route, parent *egv1a1.BackendTrafficPolicy, t egv1a1.MergeType) []string {
	rr, pr := route.Spec.RateLimit, parent.Spec.RateLimit
	switch {
	case rr == nil:
		return globalRuleNames(parent)
	case pr == nil || pr.Global == nil:
		return globalRuleNames(route)
	case rr.Global == nil:
		spec.RateLimit.Global = pr.Global.DeepCopy()
		return globalRuleNames(parent)
	case t == egv1a1.JSONMerge:
		spec.RateLimit.Global = rr.Global.DeepCopy()
		return globalRuleNames(route)
	}
	g := rr.Global.DeepCopy()
	for i := range pr.Global.Rules {
		g.Rules = append(g.Rules, *pr.Global.Rules[i].DeepCopy())
	}
	spec.RateLimit.Global = g
	return append(globalRuleNames(route), globalRuleNames(parent)...)
}
