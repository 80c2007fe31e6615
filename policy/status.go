package policy

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ControllerName is the controller Envoy Gateway reports policy status as.
const ControllerName = "gateway.envoyproxy.io/gatewayclass-controller"

// ancestorRef is the Gateway (and listener) a policy status entry is for.
func ancestorRef(gw types.NamespacedName, section *gwapiv1.SectionName) gwapiv1.ParentReference {
	g, k, ns := gwapiv1.Group(gwapiv1.GroupName), gwapiv1.Kind("Gateway"), gwapiv1.Namespace(gw.Namespace)
	return gwapiv1.ParentReference{Group: &g, Kind: &k, Namespace: &ns, Name: gwapiv1.ObjectName(gw.Name), SectionName: section}
}

// listenerSetAncestorRef is the ancestor of a policy reached through a
// ListenerSet parent.
func listenerSetAncestorRef(set types.NamespacedName, section *gwapiv1.SectionName) gwapiv1.ParentReference {
	ref := ancestorRef(set, section)
	k := gwapiv1.Kind("ListenerSet")
	ref.Kind = &k
	return ref
}

func sameAncestor(a, b *gwapiv1.ParentReference) bool {
	d := func(s *gwapiv1.SectionName) string {
		if s == nil {
			return ""
		}
		return string(*s)
	}
	return *a.Kind == *b.Kind && a.Name == b.Name && *a.Namespace == *b.Namespace && d(a.SectionName) == d(b.SectionName)
}

// setCondition sets (replaces by type) one condition on the ancestor,
// adding the ancestor when new; the order follows Envoy Gateway's.
func setCondition(p *egv1a1.BackendTrafficPolicy, ref gwapiv1.ParentReference, t gwapiv1.PolicyConditionType, st metav1.ConditionStatus, reason gwapiv1.PolicyConditionReason, msg string) {
	c := metav1.Condition{Type: string(t), Status: st, Reason: string(reason), Message: msg, ObservedGeneration: p.Generation}
	for i := range p.Status.Ancestors {
		a := &p.Status.Ancestors[i]
		if !sameAncestor(&a.AncestorRef, &ref) {
			continue
		}
		for j := range a.Conditions {
			if a.Conditions[j].Type == c.Type {
				a.Conditions[j] = c
				return
			}
		}
		a.Conditions = append(a.Conditions, c)
		return
	}
	p.Status.Ancestors = append(p.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
		AncestorRef: ref, ControllerName: ControllerName, Conditions: []metav1.Condition{c},
	})
	// Envoy Gateway bounds the list while it grows (one above the limit, so
	// truncateAncestors still sees the overflow) by dropping the least
	// telling ancestor; one dropped and later re-added keeps only its later
	// conditions. Doing the same keeps the statuses identical.
	if a := p.Status.Ancestors; len(a) > maxAncestors+1 {
		worst := 0
		for i := 1; i < len(a); i++ {
			if lessAncestor(&a[worst], &a[i]) {
				worst = i
			}
		}
		p.Status.Ancestors = append(a[:worst], a[worst+1:]...)
	}
}

// setAccepted marks the ancestor Accepted unless an Accepted condition
// (e.g. Invalid) is already there.
func setAccepted(p *egv1a1.BackendTrafficPolicy, ref gwapiv1.ParentReference) {
	for _, a := range p.Status.Ancestors {
		if sameAncestor(&a.AncestorRef, &ref) {
			for _, c := range a.Conditions {
				if c.Type == string(gwapiv1.PolicyConditionAccepted) {
					return
				}
			}
		}
	}
	setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionTrue, gwapiv1.PolicyReasonAccepted, "Policy has been accepted.")
}

func setDeprecationWarning(p *egv1a1.BackendTrafficPolicy, ref gwapiv1.ParentReference) {
	var parts []string
	if len(p.Spec.Compression) > 0 {
		parts = append(parts, "spec.compression is deprecated, use spec.compressor instead")
	}
	if p.Spec.TargetRef != nil {
		parts = append(parts, "spec.targetRef is deprecated, use spec.targetRefs instead")
	}
	if len(parts) > 0 {
		setCondition(p, ref, egv1a1.PolicyConditionWarning, metav1.ConditionTrue, egv1a1.PolicyReasonDeprecatedField, strings.Join(parts, "; "))
	}
}

// conditionMessage formats an error as Envoy Gateway does: capital first
// letter, final period.
func conditionMessage(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	if r[len(r)-1] != '.' {
		r = append(r, '.')
	}
	return string(r)
}

// StatusDocument is p as `btp status` prints it: identity and
// status.ancestors, without lastTransitionTime (no controller ran, so there
// is no transition to time).
func StatusDocument(p *egv1a1.BackendTrafficPolicy) (map[string]any, error) {
	b, err := json.Marshal(p.Status)
	if err != nil {
		return nil, err
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	anc, _ := st["ancestors"].([]any)
	for _, a := range anc {
		conds, _ := a.(map[string]any)["conditions"].([]any)
		for _, c := range conds {
			delete(c.(map[string]any), "lastTransitionTime")
		}
	}
	return map[string]any{
		"apiVersion": egv1a1.GroupVersion.String(),
		"kind":       "BackendTrafficPolicy",
		"metadata":   map[string]any{"name": p.Name, "namespace": p.Namespace},
		"status":     st,
	}, nil
}

// lessAncestor orders ancestors most telling first: not accepted, then
// overridden, then the rest, each by namespace/name.
func lessAncestor(a, b *gwapiv1.PolicyAncestorStatus) bool {
	rank := func(s *gwapiv1.PolicyAncestorStatus) int {
		switch {
		case meta.IsStatusConditionFalse(s.Conditions, string(gwapiv1.PolicyConditionAccepted)):
			return 0
		case meta.IsStatusConditionTrue(s.Conditions, string(egv1a1.PolicyConditionOverridden)):
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	if *a.AncestorRef.Namespace != *b.AncestorRef.Namespace {
		return *a.AncestorRef.Namespace < *b.AncestorRef.Namespace
	}
	return a.AncestorRef.Name < b.AncestorRef.Name
}

// maxAncestors is the Gateway API limit on status.ancestors entries.
const maxAncestors = 16

// truncateAncestors keeps the 16 most telling ancestors as Envoy Gateway
// does: not accepted first, then overridden, then the rest, each by
// namespace/name; the last one kept carries an Aggregated condition.
func truncateAncestors(p *egv1a1.BackendTrafficPolicy) {
	a := p.Status.Ancestors
	if len(a) <= maxAncestors {
		return
	}
	sort.SliceStable(a, func(i, j int) bool { return lessAncestor(&a[i], &a[j]) })
	p.Status.Ancestors = a[:maxAncestors]
	setCondition(p, p.Status.Ancestors[maxAncestors-1].AncestorRef, egv1a1.PolicyConditionAggregated, metav1.ConditionTrue,
		egv1a1.PolicyReasonAggregated, "Ancestors have been truncated because the number of policy ancestors exceeds 16.")
}
