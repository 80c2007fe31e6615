package policy

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// targetNamespaces reads a targetSelector's namespaces as Envoy Gateway's
// targetSelectorNamespacesMatch does: Same (the default) is the policy's
// namespace, All any namespace, Selector the namespaces whose labels
// (Namespace objects in the input) match; a namespace without a Namespace
// object matches no selector. ok is false when the field is unusable.
func (a *attacher) targetNamespaces(p *egv1a1.BackendTrafficPolicy, n *egv1a1.TargetSelectorNamespaces, path string, e errs) (match func(string) bool, ok bool) {
	if n == nil {
		return func(ns string) bool { return ns == p.Namespace }, true
	}
	switch n.From {
	case "", egv1a1.TargetNamespaceFromSame:
		return func(ns string) bool { return ns == p.Namespace }, true
	case egv1a1.TargetNamespaceFromAll:
		return func(string) bool { return true }, true
	case egv1a1.TargetNamespaceFromSelector:
		if n.Selector == nil {
			e.add(path+".selector", "is required when from is Selector")
			return nil, false
		}
		sel, err := metav1.LabelSelectorAsSelector(n.Selector)
		if err != nil {
			e.add(path+".selector", "invalid label selector: %v", err)
			return nil, false
		}
		nsLabels := map[string]labels.Set{}
		for _, o := range a.v.r.Namespaces {
			nsLabels[o.Name] = labels.Set(o.Labels)
		}
		return func(ns string) bool {
			l, found := nsLabels[ns]
			return found && sel.Matches(l)
		}, true
	default:
		e.add(path+".from", "unsupported value %q: allowed Same, All, Selector", n.From)
		return nil, false
	}
}

// referenceGranted is Envoy Gateway's isCrossNamespaceReferencePermitted
// for a BackendTrafficPolicy in policyNS targeting group/kind name in ns: a
// ReferenceGrant in ns must admit it (same namespace needs none).
func (v *resolver) referenceGranted(policyNS, group, kind, ns, name string) bool {
	return v.granted(egv1a1.GroupName, "BackendTrafficPolicy", policyNS, group, kind, ns, name)
}

// granted reports whether a fromGroup/fromKind in namespace fromNS may
// refer to the group/kind object ns/name: always within one namespace,
// else when a ReferenceGrant in ns admits it (Gateway API's rule, used by
// Envoy Gateway for policy targets, backendRefs and certificateRefs).
func (v *resolver) granted(fromGroup, fromKind, fromNS, group, kind, ns, name string) bool {
	if fromNS == ns {
		return true
	}
	for _, g := range v.r.ReferenceGrants {
		if g.Namespace != ns {
			continue
		}
		from := false
		for _, f := range g.Spec.From {
			if string(f.Namespace) == fromNS && string(f.Group) == fromGroup && string(f.Kind) == fromKind {
				from = true
				break
			}
		}
		if !from {
			continue
		}
		for _, t := range g.Spec.To {
			if string(t.Group) == group && string(t.Kind) == kind && (t.Name == nil || *t.Name == "" || string(*t.Name) == name) {
				return true
			}
		}
	}
	return false
}
