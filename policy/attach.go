package policy

import (
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// target is one resolved policy target.
type target struct {
	kind    string // Gateway or a route kind
	name    types.NamespacedName
	section *gwapiv1.SectionName
}

func (t target) scope() scope {
	s := scope{name: t.name}
	if t.kind == "ListenerSet" {
		s.kind = scopeListenerSet
		if t.section != nil {
			s.kind, s.section = scopeListenerSetListener, string(*t.section)
		}
		return s
	}
	if t.kind != "Gateway" {
		s.routeKind = t.kind
	}
	switch {
	case t.kind == "Gateway" && t.section == nil:
		s.kind = scopeGateway
	case t.kind == "Gateway":
		s.kind, s.section = scopeListener, string(*t.section)
	case t.section == nil:
		s.kind = scopeRoute
	default:
		s.kind, s.section = scopeRule, string(*t.section)
	}
	return s
}

// applied is a policy (or a route policy merged into its parent) in effect
// at one scope, per listener for merged ones.
type applied struct {
	spec    *egv1a1.BackendTrafficPolicySpec
	sources []*egv1a1.BackendTrafficPolicy
	// globalRuleNames name spec's rateLimit.global rules (ratelimit_names.go).
	globalRuleNames []string
}

// attacher runs Envoy Gateway's BackendTrafficPolicy attachment: policies
// are processed oldest first, route-rule targets, then routes, then
// listeners, then gateways; the first policy to claim a target wins and
// later ones are Conflicted; the most specific policy in effect wins unless
// it sets mergeType, in which case it is merged into the listener's (or
// else the gateway's) policy.
type attacher struct {
	v         *resolver
	policies  []*egv1a1.BackendTrafficPolicy
	targets   map[*egv1a1.BackendTrafficPolicy][]target
	claimed   map[scope]*egv1a1.BackendTrafficPolicy
	parentMap map[scope]*egv1a1.BackendTrafficPolicy // first policy per gateway/listener, for merging
	overrides *scopeGraph
	merged    *scopeGraph
	// merges[routeOrRuleScope][listener] is the merged spec for that listener.
	merges map[scope]map[*Listener]*applied
	// mergeFailed[routeOrRuleScope][listener] says why a merge there did not
	// apply: unmergeable (the route policy is skipped, so the next scope's
	// policy applies) or not translatable (the rule answers 500).
	mergeFailed map[scope]map[*Listener]mergeFailure
	// invalidWhy holds, per policy id, why it is Invalid: what Read found
	// (a copy, so Resolve leaves Resources alone); translationWhy what
	// Envoy Gateway's translator finds, in its words. The status gives the
	// translator's words when it has any: Envoy Gateway reports those.
	invalidWhy, translationWhy map[string][]string
	// badFields holds, per policy id, the spec fields with problems: what
	// a TCP route leaves out of an Invalid policy (tcproutes.go).
	badFields map[string][]string
}

func (v *resolver) policies() {
	a := &attacher{
		v:              v,
		targets:        map[*egv1a1.BackendTrafficPolicy][]target{},
		claimed:        map[scope]*egv1a1.BackendTrafficPolicy{},
		parentMap:      map[scope]*egv1a1.BackendTrafficPolicy{},
		overrides:      newScopeGraph(),
		merged:         newScopeGraph(),
		merges:         map[scope]map[*Listener]*applied{},
		mergeFailed:    map[scope]map[*Listener]mergeFailure{},
		invalidWhy:     map[string][]string{},
		translationWhy: map[string][]string{},
		badFields:      map[string][]string{},
	}
	for id, why := range v.r.invalid {
		a.invalidWhy[id] = append([]string(nil), why...)
	}
	for _, p := range sortedByAge(v.r.Policies) {
		p = p.DeepCopy()
		p.Status = gwapiv1.PolicyStatus{}
		a.policies = append(a.policies, p)
		a.targets[p] = a.resolveTargets(p)
		a.checkConfigMaps(p)
		for _, is := range checkTranslation(&p.Spec) {
			if !a.readFound(p, is.field) { // the CRD's words already say it
				a.errs(p).add(is.field, "%s", is.msg)
			}
			a.markInvalid(p, is.statusMessage())
			a.markBadField(p, is.field)
		}
	}
	for _, p := range a.policies {
		for _, t := range a.targets[p] {
			if (t.kind == "Gateway" && (t.section == nil || hasListener(v.gateways[t.name], string(*t.section)))) ||
				(t.kind == "ListenerSet" && (t.section == nil || hasListenerEntry(v.sets[t.name].ls, string(*t.section)))) {
				if _, ok := a.parentMap[t.scope()]; !ok {
					a.parentMap[t.scope()] = p
				}
			}
		}
	}
	for _, phase := range []scopeKind{scopeRule, scopeRoute, scopeListenerSetListener, scopeListenerSet, scopeListener, scopeGateway} {
		for _, p := range a.policies {
			for _, t := range a.targets[p] {
				if t.scope().kind != phase {
					continue
				}
				switch t.kind {
				case "Gateway":
					a.forGateway(p, t)
				case "ListenerSet":
					a.forListenerSet(p, t)
				default:
					a.forRoute(p, t)
				}
			}
		}
	}
	a.effective()
	a.routingTypes()
	for _, p := range a.policies {
		truncateAncestors(p)
	}
	v.model.Policies = a.policies
}

func (a *attacher) errs(p *egv1a1.BackendTrafficPolicy) errs {
	return a.v.errs("BackendTrafficPolicy", p)
}

// invalid returns why p is invalid ("" when it is valid).
func (a *attacher) invalid(p *egv1a1.BackendTrafficPolicy) string {
	id := resourceID("BackendTrafficPolicy", p.Namespace, p.Name)
	if why := a.translationWhy[id]; len(why) > 0 {
		return strings.Join(why, "; ")
	}
	return strings.Join(a.invalidWhy[id], "; ")
}

// readFound reports whether Read already found a problem in field of p.
func (a *attacher) readFound(p *egv1a1.BackendTrafficPolicy, field string) bool {
	for _, why := range a.v.r.invalid[resourceID("BackendTrafficPolicy", p.Namespace, p.Name)] {
		if strings.HasPrefix(why, field+": ") {
			return true
		}
	}
	return false
}

func (a *attacher) markInvalid(p *egv1a1.BackendTrafficPolicy, msg string) {
	id := resourceID("BackendTrafficPolicy", p.Namespace, p.Name)
	a.translationWhy[id] = append(a.translationWhy[id], msg)
}

// resolveTargets lists p's targets as Envoy Gateway does: selector matches
// first (oldest target first), then targetRefs (or the deprecated
// targetRef) not already selected. Targets that do not exist are errors.
func (a *attacher) resolveTargets(p *egv1a1.BackendTrafficPolicy) []target {
	e := a.errs(p)
	var out []target
	seen := map[target]bool{}
	for i, sel := range p.Spec.TargetSelectors {
		path := fmt.Sprintf("spec.targetSelectors[%d]", i)
		nsMatch, ok := a.targetNamespaces(p, sel.Namespaces, path+".namespaces", e)
		if !ok {
			continue
		}
		ls, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: sel.MatchLabels, MatchExpressions: sel.MatchExpressions})
		if err != nil {
			e.add(path, "invalid label selector: %v", err)
			continue
		}
		var objs []metav1.Object
		switch sel.Kind {
		case "Gateway":
			for _, g := range a.v.r.Gateways {
				if !a.v.isForeign(nn(g)) {
					objs = append(objs, g)
				}
			}
		default:
			if !isReadRouteKind(string(sel.Kind)) {
				e.add(path+".kind", "unsupported value %q: allowed Gateway, %s", sel.Kind, strings.Join(readRouteKinds, ", "))
				continue
			}
			for _, x := range xRoutes(a.v.r) {
				if x.kind == string(sel.Kind) {
					objs = append(objs, x.obj)
				}
			}
		}
		sort.SliceStable(objs, func(i, j int) bool {
			ti, tj := objs[i].GetCreationTimestamp(), objs[j].GetCreationTimestamp()
			return ti.Before(&tj)
		})
		for _, o := range objs {
			if !nsMatch(o.GetNamespace()) || !ls.Matches(labels.Set(o.GetLabels())) ||
				!a.v.referenceGranted(p.Namespace, string(gwapiv1.GroupName), string(sel.Kind), o.GetNamespace(), o.GetName()) {
				continue
			}
			t := target{kind: string(sel.Kind), name: nn(o)}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	refs, field := p.Spec.TargetRefs, "spec.targetRefs"
	if p.Spec.TargetRef != nil {
		refs, field = []gwapiv1.LocalPolicyTargetReferenceWithSectionName{*p.Spec.TargetRef}, "spec.targetRef"
	}
	for i, r := range refs {
		path := field
		if p.Spec.TargetRef == nil {
			path = fmt.Sprintf("%s[%d]", field, i)
		}
		t := target{kind: string(r.Kind), name: types.NamespacedName{Namespace: p.Namespace, Name: string(r.Name)}, section: r.SectionName}
		switch t.kind {
		case "Gateway":
			if a.v.isForeign(t.name) {
				continue // another controller's Gateway: Envoy Gateway ignores the target
			}
			g, ok := a.v.gateways[t.name]
			if !ok {
				e.add(path+".name", "Gateway %q not found: allowed %s", t.name.String(), keys(a.v.gateways))
				continue
			}
			if t.section != nil && !hasListener(g, string(*t.section)) {
				e.add(path+".sectionName", "listener %q not found on Gateway %s: allowed %s", *t.section, t.name, listenerNames(g))
			}
		case "ListenerSet":
			ls, ok := a.v.sets[t.name]
			if !ok {
				if !a.v.hasListenerSet(t.name) {
					e.add(path+".name", "ListenerSet %q not found: allowed %s", t.name.String(), keys(a.v.sets))
				}
				continue // not admitted by a Gateway btp handles: Envoy Gateway ignores the target
			}
			if t.section != nil && !hasListenerEntry(ls.ls, string(*t.section)) {
				e.add(path+".sectionName", "listener %q not found on ListenerSet %s", *t.section, t.name)
			}
		default:
			if !isReadRouteKind(t.kind) {
				if r.Group == gwapiv1.GroupName {
					e.add(path+".kind", "unsupported value %q: allowed Gateway, ListenerSet, %s (btp reads no other route kinds)", r.Kind, strings.Join(readRouteKinds, ", "))
				}
				continue
			}
			x, ok := a.v.routes[routeKey{t.kind, t.name}]
			if !ok {
				e.add(path+".name", "%s %q not found: allowed %s", t.kind, t.name.String(), a.v.routeNames(t.kind))
				continue
			}
			if t.section != nil && x.ruleIndex(string(*t.section)) < 0 {
				e.add(path+".sectionName", "rule %q not found on %s %s: allowed %s", *t.section, t.kind, t.name, x.ruleList())
			}
		}
		if !seen[t] || t.section != nil {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// routeNames lists the routes of one kind for "allowed ..." messages.
func (v *resolver) routeNames(kind string) string {
	m := map[types.NamespacedName]bool{}
	for k := range v.routes {
		if k.kind == kind {
			m[k.NamespacedName] = true
		}
	}
	return keys(m)
}

// forRoute attaches p to a route or one of its rules.
func (a *attacher) forRoute(p *egv1a1.BackendTrafficPolicy, t target) {
	x := a.v.routes[routeKey{t.kind, t.name}]
	routeScope := scope{kind: scopeRoute, name: t.name, routeKind: t.kind}
	var ancestors []gwapiv1.ParentReference
	for _, pr := range x.parents {
		if pr.Kind != nil && *pr.Kind == "ListenerSet" {
			// The ancestor is the ListenerSet (Envoy Gateway names it, not
			// its Gateway); the route overrides the Gateway's policy.
			set := nnOf(x.obj.GetNamespace(), pr.Namespace, string(pr.Name))
			if s, ok := a.v.sets[set]; ok {
				lsScope := scope{kind: scopeListenerSet, name: set}
				a.overrides.contain(scope{kind: scopeGateway, name: s.gateway}, lsScope)
				if pr.SectionName != nil {
					a.overrides.add(scope{kind: scopeListenerSetListener, name: set, section: string(*pr.SectionName)}, routeScope)
				} else {
					a.overrides.add(lsScope, routeScope)
				}
				ancestors = append(ancestors, listenerSetAncestorRef(set, pr.SectionName))
			}
			continue
		}
		if pr.Kind != nil && *pr.Kind != "Gateway" {
			continue
		}
		gw := nnOf(x.obj.GetNamespace(), pr.Namespace, string(pr.Name))
		if a.v.isForeign(gw) {
			continue
		}
		if pr.SectionName != nil {
			a.overrides.add(scope{kind: scopeListener, name: gw, section: string(*pr.SectionName)}, routeScope)
		} else {
			a.overrides.add(scope{kind: scopeGateway, name: gw}, routeScope)
		}
		ancestors = append(ancestors, ancestorRef(gw, pr.SectionName))
	}
	sc := t.scope()
	var reason gwapiv1.PolicyConditionReason
	var msg string
	switch {
	case t.section != nil && x.ruleIndex(string(*t.section)) < 0:
		reason, msg = gwapiv1.PolicyReasonTargetNotFound, fmt.Sprintf("No section name %s found for %s %s", *t.section, t.kind, t.name)
	case a.claimed[sc] != nil && t.section == nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target %s %s, another BackendTrafficPolicy has already attached to it", t.kind, t.name.Name)
	case a.claimed[sc] != nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target RouteRule %s/%s, another BackendTrafficPolicy has already attached to it", t.name.Name, *t.section)
	}
	if reason != "" {
		for _, ref := range ancestors {
			setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, reason, msg)
		}
		return
	}
	a.claimed[sc] = p
	if bad := a.invalid(p); bad != "" {
		for _, ref := range ancestors {
			setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, gwapiv1.PolicyReasonInvalid, conditionMessage(bad))
		}
	} else if p.Spec.MergeType != nil {
		a.mergeIntoParents(p, t, sc, routeScope)
	}
	for _, ref := range ancestors {
		setAccepted(p, ref)
		setDeprecationWarning(p, ref)
	}
	if t.section == nil {
		var rules []string
		for c := range a.claimed {
			if c.kind == scopeRule && c.name == t.name && c.routeKind == t.kind {
				rules = append(rules, c.section)
			}
		}
		if len(rules) > 0 {
			sort.Strings(rules)
			for _, ref := range ancestors {
				setCondition(p, ref, egv1a1.PolicyConditionOverridden, metav1.ConditionTrue, egv1a1.PolicyReasonOverridden,
					fmt.Sprintf("This policy is being overridden by other backendTrafficPolicy for these route rules: %v", rules))
			}
		}
	}
}

// mergeIntoParents merges route (or rule) policy p into the policy of each
// listener the route is attached to (the listener's own policy, else the
// gateway's). Without a parent policy p applies alone there.
func (a *attacher) mergeIntoParents(p *egv1a1.BackendTrafficPolicy, t target, sc, routeScope scope) {
	for _, at := range a.v.attachments[routeKey{t.kind, t.name}] {
		section := gwapiv1.SectionName(at.listener.Name)
		ref := ancestorRef(at.gateway, &section)
		if ls := at.listener.ListenerSet; ls != nil {
			// Envoy Gateway names a ListenerSet listener by the set and its own name.
			section = gwapiv1.SectionName(at.listener.section)
			ref = listenerSetAncestorRef(*ls, &section)
		}
		var parentScope scope
		var parent *egv1a1.BackendTrafficPolicy
		for _, ps := range listenerChain(at) {
			if parent = a.parentMap[ps]; parent != nil {
				parentScope = ps
				break
			}
		}
		if parent == nil {
			continue
		}
		spec, err := mergeSpec(parent, p, *p.Spec.MergeType)
		if err != nil {
			msg := "error merging policies: " + err.Error()
			setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, gwapiv1.PolicyReasonInvalid, conditionMessage(msg))
			a.errs(p).add("spec.mergeType", "%s", msg)
			a.failMerge(sc, at.listener, mergeFailure{})
			continue
		}
		ap := &applied{spec: spec, sources: []*egv1a1.BackendTrafficPolicy{p, parent}}
		ap.globalRuleNames = mergeGlobalRules(spec, p, parent, *p.Spec.MergeType)
		// Envoy Gateway translates the merged policy as a whole: what the
		// parent brings in (e.g. a ConfigMap that does not exist) makes the
		// merge, and so this policy on this listener, Invalid.
		if bad := a.mergedProblems(ap); len(bad) > 0 {
			msg := strings.Join(bad, "; ")
			setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, gwapiv1.PolicyReasonInvalid, conditionMessage(msg))
			a.errs(p).add("spec.mergeType", "merged with %s/%s on listener %s/%s: %s", parent.Namespace, parent.Name, at.gateway, at.listener.Name, msg)
			a.failMerge(sc, at.listener, mergeFailure{invalid: conditionMessage(msg), sources: ap.sources})
			continue
		}
		if a.merges[sc] == nil {
			a.merges[sc] = map[*Listener]*applied{}
		}
		a.merges[sc][at.listener] = ap
		a.merged.add(parentScope, routeScope)
		setCondition(p, ref, egv1a1.PolicyConditionMerged, metav1.ConditionTrue, egv1a1.PolicyReasonMerged,
			fmt.Sprintf("Merged with policy %s/%s", parent.Namespace, parent.Name))
	}
}

// mergeFailure is a route policy's merge on one listener that did not
// apply. invalid is empty when the policies could not be merged at all
// (Envoy Gateway then applies nothing of the route policy there); else it is
// the Invalid condition's message for a merged spec that does not translate,
// whose rules answer 500.
type mergeFailure struct {
	invalid string
	sources []*egv1a1.BackendTrafficPolicy
}

func (a *attacher) failMerge(sc scope, l *Listener, f mergeFailure) {
	if a.mergeFailed[sc] == nil {
		a.mergeFailed[sc] = map[*Listener]mergeFailure{}
	}
	a.mergeFailed[sc][l] = f
}

// mergedProblems lists, in Envoy Gateway's words, why a merged spec cannot
// be translated.
func (a *attacher) mergedProblems(ap *applied) []string {
	var out []string
	for _, is := range checkTranslation(ap.spec) {
		out = append(out, is.statusMessage())
	}
	ns := ap.responseOverrideOwner().Namespace
	for _, ro := range ap.spec.ResponseOverride {
		if ro.Response != nil && ro.Response.Body != nil && ro.Response.Body.ValueRef != nil {
			if _, err := a.configMapBody(ns, string(ro.Response.Body.ValueRef.Name)); err != nil {
				out = append(out, "ResponseOverride: "+err.Error())
			}
		}
	}
	return out
}

// responseOverrideOwner is the policy whose namespace a merged
// responseOverride's ConfigMaps are looked up in: the route policy when it
// sets responseOverride, else the parent.
func (ap *applied) responseOverrideOwner() *egv1a1.BackendTrafficPolicy {
	if len(ap.sources[0].Spec.ResponseOverride) > 0 {
		return ap.sources[0]
	}
	return ap.sources[len(ap.sources)-1]
}

// forGateway attaches p to a Gateway or one of its listeners.
func (a *attacher) forGateway(p *egv1a1.BackendTrafficPolicy, t target) {
	sc := t.scope()
	ref := ancestorRef(t.name, t.section)
	g := a.v.gateways[t.name]
	var reason gwapiv1.PolicyConditionReason
	var msg string
	switch {
	case t.section != nil && !hasListener(g, string(*t.section)):
		reason, msg = gwapiv1.PolicyReasonTargetNotFound, fmt.Sprintf("No section name %s found for Gateway %s", *t.section, t.name)
	case a.claimed[sc] != nil && t.section == nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target Gateway %s, another BackendTrafficPolicy has already attached to it", t.name.Name)
	case a.claimed[sc] != nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target Listener %s/%s, another BackendTrafficPolicy has already attached to it", t.name, *t.section)
	}
	if reason != "" {
		setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, reason, msg)
		return
	}
	a.claimed[sc] = p
	if t.section != nil {
		a.overrides.add(sc.parent(), sc)
	}
	a.reportAttached(p, ref, sc)
}

// reportAttached sets the status of policy p attached at sc (a Gateway, a
// listener, a ListenerSet or one of its listeners) for ancestor ref:
// Accepted (or Invalid), and which other policies merge over or override it
// below sc, in Envoy Gateway's words.
func (a *attacher) reportAttached(p *egv1a1.BackendTrafficPolicy, ref gwapiv1.ParentReference, sc scope) {
	if bad := a.invalid(p); bad != "" {
		setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, gwapiv1.PolicyReasonInvalid, conditionMessage(bad))
	}
	setAccepted(p, ref)
	setDeprecationWarning(p, ref)
	merged := a.merged.direct(sc)
	overridden := a.overrides.withDescendants(sc)
	for s := range merged {
		delete(overridden, s)
	}
	if m := formatScopes(merged); m != "" {
		setCondition(p, ref, egv1a1.PolicyConditionMerged, metav1.ConditionTrue, egv1a1.PolicyReasonMerged,
			"This policy is being merged by other backendTrafficPolicies for "+m)
	}
	if o := formatScopes(overridden); o != "" {
		setCondition(p, ref, egv1a1.PolicyConditionOverridden, metav1.ConditionTrue, egv1a1.PolicyReasonOverridden,
			"This policy is being overridden by other backendTrafficPolicies for "+o)
	}
}

// effective sets every attached rule's Policy: the rule's policy, else the
// route's, else the listener's, else the gateway's (merged where the route
// policy asked for it).
func (a *attacher) effective() {
	for rk, ats := range a.v.attachments {
		for _, at := range ats {
			if rk.kind == KindTCPRoute || rk.kind == KindUDPRoute || rk.kind == KindTLSRoute {
				a.effectiveL4(rk, at)
				continue
			}
			for _, rule := range at.route.Rules {
				var chain []scope
				if rule.Name != nil {
					chain = append(chain, scope{kind: scopeRule, name: rk.NamespacedName, section: *rule.Name, routeKind: rk.kind})
				}
				chain = append(chain, scope{kind: scopeRoute, name: rk.NamespacedName, routeKind: rk.kind})
				chain = append(chain, listenerChain(at)...)
				for _, sc := range chain {
					p := a.claimed[sc]
					if p == nil {
						continue
					}
					// Envoy Gateway's order: the policy's own translation
					// errors, then the merge (an unmergeable route policy
					// is not applied at all), then the merged result.
					if bad := a.invalid(p); bad != "" {
						rule.PolicyError, rule.PolicySources = conditionMessage(bad), []types.NamespacedName{nn(p)}
						break
					}
					f, failed := a.mergeFailed[sc][at.listener]
					if failed && f.invalid == "" {
						continue
					}
					if failed {
						rule.PolicyError = f.invalid
						for _, s := range f.sources {
							rule.PolicySources = append(rule.PolicySources, nn(s))
						}
						break
					}
					ap := a.merges[sc][at.listener]
					if ap == nil {
						ap = &applied{spec: &p.Spec, sources: []*egv1a1.BackendTrafficPolicy{p}, globalRuleNames: globalRuleNames(p)}
					}
					rule.Policy = a.finalSpec(ap)
					rule.GlobalRuleNames = ap.globalRuleNames
					for _, s := range ap.sources {
						rule.PolicySources = append(rule.PolicySources, nn(s))
					}
					break
				}
			}
		}
	}
}

// finalSpec is the spec a rule renders: a copy without the attachment
// fields, with ConfigMap bodies inlined.
func (a *attacher) finalSpec(ap *applied) *egv1a1.BackendTrafficPolicySpec {
	s := ap.spec.DeepCopy()
	s.PolicyTargetReferences = egv1a1.PolicyTargetReferences{}
	s.MergeType = nil
	owner := ap.responseOverrideOwner()
	for i := range s.ResponseOverride {
		r := s.ResponseOverride[i].Response
		if r == nil || r.Body == nil || r.Body.ValueRef == nil {
			continue
		}
		if body, err := a.configMapBody(owner.Namespace, string(r.Body.ValueRef.Name)); err == nil {
			inline := egv1a1.ResponseValueTypeInline
			r.Body.Type, r.Body.Inline, r.Body.ValueRef = &inline, &body, nil
		}
	}
	return s
}

// configMapBody reads a responseOverride body from a ConfigMap as Envoy
// Gateway does: the key "response.body", else the only (first, by name)
// data key, else the first binaryData key.
func (a *attacher) configMapBody(ns, name string) (string, error) {
	cm, ok := a.v.configMaps[types.NamespacedName{Namespace: ns, Name: name}]
	if !ok {
		return "", fmt.Errorf("can't find the referenced configmap %s/%s", ns, name)
	}
	if b, ok := cm.Data["response.body"]; ok {
		return b, nil
	}
	for _, m := range []map[string]string{cm.Data, binaryAsText(cm.BinaryData)} {
		if len(m) > 0 {
			k := make([]string, 0, len(m))
			for key := range m {
				k = append(k, key)
			}
			sort.Strings(k)
			return m[k[0]], nil
		}
	}
	return "", fmt.Errorf("can't find the key response.body in the referenced configmap %s/%s", ns, name)
}

func binaryAsText(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// checkConfigMaps reports responseOverride valueRefs that do not resolve;
// the policy is then Invalid, as in Envoy Gateway.
func (a *attacher) checkConfigMaps(p *egv1a1.BackendTrafficPolicy) {
	for i, ro := range p.Spec.ResponseOverride {
		if ro.Response == nil || ro.Response.Body == nil || ro.Response.Body.ValueRef == nil {
			continue
		}
		if _, err := a.configMapBody(p.Namespace, string(ro.Response.Body.ValueRef.Name)); err != nil {
			a.errs(p).add(fmt.Sprintf("spec.responseOverride[%d].response.body.valueRef.name", i), "%v", err)
			a.markInvalid(p, "ResponseOverride: "+err.Error())
		}
	}
}
