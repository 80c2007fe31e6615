package policy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// route checks h and attaches it to the listeners its parentRefs select.
func (v *resolver) route(h *gwapiv1.HTTPRoute) {
	e := v.errs("HTTPRoute", h)
	if h.Spec.UseDefaultGateways != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	refs := make([][]gwapiv1.BackendRef, len(h.Spec.Rules))
	for i := range h.Spec.Rules {
		for _, b := range h.Spec.Rules[i].BackendRefs {
			refs[i] = append(refs[i], b.BackendRef)
		}
	}
	backends := v.routeBackends(v.routes[routeKey{"HTTPRoute", nn(h)}], refs, e)
	mirrors := make([]map[int]*Backend, len(h.Spec.Rules))
	for i := range h.Spec.Rules {
		for j, f := range h.Spec.Rules[i].Filters {
			if f.RequestMirror != nil {
				mirrors[i] = v.mirror(mirrors[i], h.Namespace, j, f.RequestMirror.BackendRef, fmt.Sprintf("spec.rules[%d].filters[%d].requestMirror", i, j), e)
			}
		}
	}
	v.attachRoute(v.routes[routeKey{"HTTPRoute", nn(h)}], h.Spec.Hostnames, e, func() []*Rule {
		out := make([]*Rule, len(h.Spec.Rules))
		for i := range h.Spec.Rules {
			out[i] = &Rule{Index: i, Name: (*string)(h.Spec.Rules[i].Name), Spec: &h.Spec.Rules[i], Backends: backends[i], Mirrors: mirrors[i]}
		}
		return out
	})
}

// mirror resolves a RequestMirror filter's backendRef (at path) into m,
// keyed by the filter's index j, as Envoy Gateway resolves it: like a
// backendRef of weight 1.
func (v *resolver) mirror(m map[int]*Backend, ns string, j int, ref gwapiv1.BackendObjectReference, path string, e errs) map[int]*Backend {
	bs := v.ruleBackends(ns, []gwapiv1.BackendRef{{BackendObjectReference: ref}}, path, e)
	if len(bs) == 0 {
		return m
	}
	if m == nil {
		m = map[int]*Backend{}
	}
	m[j] = bs[0]
	return m
}

// routeBackends checks the rule names of x (unique) and resolves each
// rule's backendRefs (refs[i] for spec.rules[i]).
func (v *resolver) routeBackends(x *xRoute, refs [][]gwapiv1.BackendRef, e errs) [][]*Backend {
	out := make([][]*Backend, len(refs))
	names := map[string]int{}
	for i := range refs {
		if n := x.ruleNames[i]; n != nil {
			if prev, dup := names[string(*n)]; dup {
				e.add(fmt.Sprintf("spec.rules[%d].name", i), "duplicate rule name %q: also spec.rules[%d]", *n, prev)
			}
			names[string(*n)] = i
		}
		out[i] = v.ruleBackends(x.obj.GetNamespace(), refs[i], fmt.Sprintf("spec.rules[%d]", i), e)
	}
	return out
}

// attachRoute attaches an HTTP-listener route (HTTPRoute, GRPCRoute) to the
// listeners its parentRefs select, as Gateway API defines it: sectionName
// and port narrow the listeners, allowedRoutes must admit the route's
// namespace and kind, and the hostnames must intersect. rules builds the
// model's rules afresh for each listener (each gets its own policy).
func (v *resolver) attachRoute(x *xRoute, hostnames []gwapiv1.Hostname, e errs, rules func() []*Rule) {
	ns := x.obj.GetNamespace()
	for pi := range x.parents {
		p := &x.parents[pi]
		path := fmt.Sprintf("spec.parentRefs[%d]", pi)
		if p.Group != nil && *p.Group != gwapiv1.GroupName {
			e.add(path+".group", "unsupported value %q: allowed %s", *p.Group, gwapiv1.GroupName)
			continue
		}
		if p.Kind != nil && *p.Kind == "ListenerSet" {
			v.attachToListenerSet(x, p, path, hostnames, e, rules)
			continue
		}
		if p.Kind != nil && *p.Kind != "Gateway" {
			e.add(path+".kind", "unsupported value %q: allowed Gateway, ListenerSet", *p.Kind)
			continue
		}
		gwNN := nnOf(ns, p.Namespace, string(p.Name))
		if v.isForeign(gwNN) {
			continue
		}
		g, ok := v.gateways[gwNN]
		if !ok {
			e.add(path+".name", "Gateway %q not found: allowed %s", gwNN.String(), keys(v.gateways))
			continue
		}
		if p.SectionName != nil && !hasListener(g, string(*p.SectionName)) {
			e.add(path+".sectionName", "listener %q not found on Gateway %s: allowed %s", *p.SectionName, gwNN, listenerNames(g))
			continue
		}
		if p.Port != nil && !hasPort(g, int32(*p.Port)) {
			e.add(path+".port", "no listener of Gateway %s has port %d", gwNN, *p.Port)
			continue
		}
		// A Gateway parentRef reaches the Gateway's own listeners only, never
		// those its ListenerSets add (GEP-1713).
		v.attachToListeners(x, p, path, hostnames, e, rules, gwNN, "Gateway "+gwNN.String(), nil)
	}
}

// attachToListeners attaches x through parentRef p to the listeners of
// gateway gw that set contributed (nil: the Gateway's own), filtered by
// sectionName and port; parent names the parent in messages.
func (v *resolver) attachToListeners(x *xRoute, p *gwapiv1.ParentReference, path string, hostnames []gwapiv1.Hostname, e errs, rules func() []*Rule, gwNN types.NamespacedName, parent string, set *types.NamespacedName) {
	ns := x.obj.GetNamespace()
	attached, refused := 0, ""
	for _, l := range v.model.gateway(gwNN).Listeners {
		if !sameSet(l.ListenerSet, set) || (p.SectionName != nil && string(*p.SectionName) != l.section) || (p.Port != nil && int32(*p.Port) != l.Port) {
			continue
		}
		if !allowsRoute(l, ns) {
			refused = fmt.Sprintf("listener %q does not allow routes from namespace %q (allowedRoutes)", l.Name, ns)
			continue
		}
		if !allowsKind(l, x.kind) {
			refused = fmt.Sprintf("listener %q does not allow %s (allowedRoutes.kinds)", l.Name, x.kind)
			continue
		}
		if v.attachedTo(x.key(), l) {
			attached++ // an earlier parentRef already attached it here
			continue
		}
		hosts, ok := intersectHostnames(l.Hostname, hostnames)
		if !ok {
			refused = fmt.Sprintf("no route hostname matches listener %q hostname %q", l.Name, *l.Hostname)
			continue
		}
		v.attach(gwNN, l, p, &Route{Kind: x.kind, Name: nn(x.obj), Hostnames: hosts, Rules: rules()})
		attached++
	}
	if attached == 0 {
		e.add(path, "not attached to %s: %s", parent, refused)
	}
}

// attach records that route attached to listener l of gateway gw through
// parentRef p.
func (v *resolver) attach(gw types.NamespacedName, l *Listener, p *gwapiv1.ParentReference, route *Route) {
	k := routeKey{route.Kind, route.Name}
	l.Routes = append(l.Routes, route)
	v.attachments[k] = append(v.attachments[k], &attachment{gateway: gw, listener: l, parentRef: p, route: route})
}

func (v *resolver) attachedTo(route routeKey, l *Listener) bool {
	for _, at := range v.attachments[route] {
		if at.listener == l {
			return true
		}
	}
	return false
}

// gateway finds a Gateway of the model by name (empty when absent).
func (m *Model) gateway(n types.NamespacedName) *Gateway {
	for _, g := range m.Gateways {
		if g.Name == n {
			return g
		}
	}
	return &Gateway{}
}

func hasListener(g *gwapiv1.Gateway, name string) bool {
	for _, l := range g.Spec.Listeners {
		if string(l.Name) == name {
			return true
		}
	}
	return false
}

func hasPort(g *gwapiv1.Gateway, port int32) bool {
	for _, l := range g.Spec.Listeners {
		if int32(l.Port) == port {
			return true
		}
	}
	return false
}

// intersectHostnames returns the hostnames a route serves on a listener
// (Gateway API hostname matching, "*." wildcards match one or more labels).
// Empty means any host. ok is false when they do not intersect at all.
func intersectHostnames(listener *string, route []gwapiv1.Hostname) ([]string, bool) {
	if listener == nil || *listener == "" {
		out := make([]string, len(route))
		for i, h := range route {
			out[i] = string(h)
		}
		return out, true
	}
	l := *listener
	if len(route) == 0 {
		return []string{l}, true
	}
	var out []string
	add := func(h string) {
		for _, o := range out {
			if o == h {
				return
			}
		}
		out = append(out, h)
	}
	for _, rh := range route {
		h := string(rh)
		switch {
		case h == l:
			add(h)
		case wildcardMatches(l, h):
			add(h) // route host is the more specific one
		case wildcardMatches(h, l):
			add(l)
		}
	}
	return out, len(out) > 0
}

// wildcardMatches reports whether pattern "*.x" covers host (a name or a
// narrower wildcard) that is strictly below x.
func wildcardMatches(pattern, host string) bool {
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok {
		return false
	}
	h := strings.TrimPrefix(host, "*")
	return strings.HasSuffix(h, suffix) && len(h) > len(suffix)
}
