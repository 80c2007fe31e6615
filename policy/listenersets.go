package policy

import (
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerSets, as Envoy Gateway v1.9.1 reads them
// (internal/gatewayapi/listenerset.go): a ListenerSet's listeners become
// listeners of its parent Gateway when the Gateway's
// spec.allowedListeners.namespaces admits the ListenerSet's namespace
// (unset: none; Same: the Gateway's namespace; All; Selector: namespace
// labels). A ListenerSet whose Gateway is another controller's, absent or
// does not admit it is left out, as Envoy Gateway leaves it out (its status
// says NotAllowed). Routes reach these listeners only through a parentRef
// of kind ListenerSet.

// listenerSet is one admitted ListenerSet and the Gateway it extends.
type listenerSet struct {
	ls      *gwapiv1.ListenerSet
	gateway types.NamespacedName
}

// checkAllowedListeners validates g's spec.allowedListeners.
func (v *resolver) checkAllowedListeners(g *gwapiv1.Gateway, e errs) {
	al := g.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return
	}
	path := "spec.allowedListeners.namespaces"
	switch *al.Namespaces.From {
	case gwapiv1.NamespacesFromAll, gwapiv1.NamespacesFromSame, gwapiv1.NamespacesFromNone:
	case gwapiv1.NamespacesFromSelector:
		if al.Namespaces.Selector == nil {
			e.add(path+".selector", "is required when from is Selector")
		} else if _, err := metav1.LabelSelectorAsSelector(al.Namespaces.Selector); err != nil {
			e.add(path+".selector", "invalid label selector: %v", err)
		}
	default:
		e.add(path+".from", "unsupported value %q: allowed All, Same, Selector, None", *al.Namespaces.From)
	}
}

// admitsListenerSet is Envoy Gateway's isListenerSetAllowed.
func (v *resolver) admitsListenerSet(g *gwapiv1.Gateway, ns string) bool {
	al := g.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return false
	}
	switch *al.Namespaces.From {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return ns == g.Namespace
	case gwapiv1.NamespacesFromSelector:
		if al.Namespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(al.Namespaces.Selector)
		if err != nil {
			return false
		}
		for _, o := range v.r.Namespaces {
			if o.Name == ns {
				return sel.Matches(labels.Set(o.Labels))
			}
		}
	}
	return false
}

// listenerSets adds the listeners of every admitted ListenerSet to its
// Gateway in the model, oldest ListenerSet first (Envoy Gateway's order).
func (v *resolver) listenerSets() {
	v.sets = map[types.NamespacedName]*listenerSet{}
	for _, ls := range sortedByAge(v.r.ListenerSets) {
		e := v.errs("ListenerSet", ls)
		pr := ls.Spec.ParentRef
		if (pr.Group != nil && *pr.Group != gwapiv1.GroupName) || (pr.Kind != nil && *pr.Kind != "Gateway") {
			e.add("spec.parentRef", "unsupported parent %s/%s: allowed %s/Gateway", deref(pr.Group), deref(pr.Kind), gwapiv1.GroupName)
			continue
		}
		gwNN := types.NamespacedName{Namespace: ls.Namespace, Name: string(pr.Name)}
		if pr.Namespace != nil {
			gwNN.Namespace = string(*pr.Namespace)
		}
		g, ok := v.gateways[gwNN]
		if !ok || !v.admitsListenerSet(g, ls.Namespace) {
			continue // another controller's, absent, or not admitted: Envoy Gateway ignores it
		}
		set := nn(ls)
		v.sets[set] = &listenerSet{ls: ls, gateway: gwNN}
		mg := v.model.gateway(gwNN)
		for i := range ls.Spec.Listeners {
			le := &ls.Spec.Listeners[i]
			path := fmt.Sprintf("spec.listeners[%d]", i)
			name := set.Namespace + "/" + set.Name + "/" + string(le.Name)
			if _, dup := v.listeners[gwNN][name]; dup {
				continue // Read reported it (listeners are a list-type map keyed by name)
			}
			if !in(string(le.Protocol), string(gwapiv1.HTTPProtocolType), string(gwapiv1.HTTPSProtocolType), string(gwapiv1.TCPProtocolType), string(gwapiv1.UDPProtocolType), string(gwapiv1.TLSProtocolType)) {
				e.add(path+".protocol", "unsupported value %q: allowed HTTP, HTTPS, TLS, TCP, UDP", le.Protocol)
			}
			gl := &gwapiv1.Listener{Name: le.Name, Hostname: le.Hostname, Port: le.Port, Protocol: le.Protocol, TLS: le.TLS, AllowedRoutes: le.AllowedRoutes}
			ml := &Listener{
				Name: name, Port: int32(le.Port), Protocol: le.Protocol,
				TLS:         v.listenerTLS("ListenerSet", ls.Namespace, gl, path, e),
				ListenerSet: &set, tls: le.TLS, section: string(le.Name), allowed: le.AllowedRoutes, ns: ls.Namespace,
			}
			if le.Hostname != nil {
				h := string(*le.Hostname)
				ml.Hostname = &h
			}
			mg.Listeners = append(mg.Listeners, ml)
			v.listeners[gwNN][name] = ml
		}
	}
}

// attachToListenerSet attaches x through parentRef p (kind ListenerSet) to
// the set's listeners; sectionName names one of them by its own name.
func (v *resolver) attachToListenerSet(x *xRoute, p *gwapiv1.ParentReference, path string, hostnames []gwapiv1.Hostname, e errs, rules func() []*Rule) {
	set := nnOf(x.obj.GetNamespace(), p.Namespace, string(p.Name))
	s, ok := v.sets[set]
	if !ok {
		for _, ls := range v.r.ListenerSets {
			if nn(ls) == set {
				return // not admitted by (or not for) a Gateway btp handles: Envoy Gateway attaches nothing
			}
		}
		e.add(path+".name", "ListenerSet %q not found: allowed %s", set.String(), keys(v.sets))
		return
	}
	if p.SectionName != nil && !hasListenerEntry(s.ls, string(*p.SectionName)) {
		e.add(path+".sectionName", "listener %q not found on ListenerSet %s", *p.SectionName, set)
		return
	}
	v.attachToListeners(x, p, path, hostnames, e, rules, s.gateway, "ListenerSet "+set.String(), &set)
}

func hasListenerEntry(ls *gwapiv1.ListenerSet, name string) bool {
	for _, l := range ls.Spec.Listeners {
		if string(l.Name) == name {
			return true
		}
	}
	return false
}

// sameSet reports whether a listener's ListenerSet is set (both nil: the
// Gateway's own listener).
func sameSet(a, b *types.NamespacedName) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// hasListenerSet reports whether a ListenerSet of that name was read at all.
func (v *resolver) hasListenerSet(n types.NamespacedName) bool {
	for _, ls := range v.r.ListenerSets {
		if nn(ls) == n {
			return true
		}
	}
	return false
}

// listenerChain is where a policy for the listener of at comes from, most
// specific first, as Envoy Gateway looks it up (route > listener or
// ListenerSet > Gateway): a ListenerSet listener takes the policy on that
// listener, else on its set, else on the Gateway; a Gateway listener the
// one on the listener, else on the Gateway.
func listenerChain(at *attachment) []scope {
	gw := scope{kind: scopeGateway, name: at.gateway}
	if ls := at.listener.ListenerSet; ls != nil {
		return []scope{{kind: scopeListenerSetListener, name: *ls, section: at.listener.section}, {kind: scopeListenerSet, name: *ls}, gw}
	}
	return []scope{{kind: scopeListener, name: at.gateway, section: at.listener.Name}, gw}
}

// forListenerSet is Envoy Gateway's processBackendTrafficPolicyForListenerSet:
// the first policy to target the set (or one of its listeners) claims it,
// and its status names what more specific policies override or merge into.
func (a *attacher) forListenerSet(p *egv1a1.BackendTrafficPolicy, t target) {
	s := a.v.sets[t.name]
	sc := t.scope()
	ref := listenerSetAncestorRef(t.name, t.section)
	var reason gwapiv1.PolicyConditionReason
	var msg string
	switch {
	case t.section != nil && !hasListenerEntry(s.ls, string(*t.section)):
		reason, msg = gwapiv1.PolicyReasonTargetNotFound, fmt.Sprintf("No section name %s found for ListenerSet %s", *t.section, t.name)
	case a.claimed[sc] != nil && t.section == nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target ListenerSet %s, another BackendTrafficPolicy has already attached to it", t.name.Name)
	case a.claimed[sc] != nil:
		reason, msg = gwapiv1.PolicyReasonConflicted, fmt.Sprintf("Unable to target Listener %s/%s, another BackendTrafficPolicy has already attached to it", t.name.Name, *t.section)
	}
	if reason != "" {
		setCondition(p, ref, gwapiv1.PolicyConditionAccepted, metav1.ConditionFalse, reason, msg)
		return
	}
	a.claimed[sc] = p
	gw := scope{kind: scopeGateway, name: s.gateway}
	if t.section != nil {
		a.overrides.contain(gw, sc.parent())
		a.overrides.add(sc.parent(), sc)
	} else {
		a.overrides.add(gw, sc)
	}
	a.reportAttached(p, ref, sc)
}
