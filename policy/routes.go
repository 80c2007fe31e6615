package policy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// route attaches h to the listeners its parentRefs select, as Gateway API
// defines it: sectionName and port narrow the listeners, allowedRoutes must
// admit the route's namespace, and the hostnames must intersect.
func (v *resolver) route(h *gwapiv1.HTTPRoute) {
	e := v.errs("HTTPRoute", h)
	if h.Spec.UseDefaultGateways != "" {
		e.add("spec.useDefaultGateways", "not supported: name the Gateway in parentRefs")
	}
	backends := make([][]*Backend, len(h.Spec.Rules))
	names := map[string]int{}
	for i := range h.Spec.Rules {
		if n := h.Spec.Rules[i].Name; n != nil {
			if prev, dup := names[string(*n)]; dup {
				e.add(fmt.Sprintf("spec.rules[%d].name", i), "duplicate rule name %q: also spec.rules[%d]", *n, prev)
			}
			names[string(*n)] = i
		}
		backends[i] = v.ruleBackends(h, i, e)
	}
	for pi := range h.Spec.ParentRefs {
		p := &h.Spec.ParentRefs[pi]
		path := fmt.Sprintf("spec.parentRefs[%d]", pi)
		if p.Group != nil && *p.Group != gwapiv1.GroupName {
			e.add(path+".group", "unsupported value %q: allowed %s", *p.Group, gwapiv1.GroupName)
			continue
		}
		if p.Kind != nil && *p.Kind != "Gateway" {
			e.add(path+".kind", "unsupported value %q: allowed Gateway", *p.Kind)
			continue
		}
		gwNN := nnOf(h.Namespace, p.Namespace, string(p.Name))
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
		attached, refused := 0, ""
		for _, l := range v.model.gateway(gwNN).Listeners {
			if (p.SectionName != nil && string(*p.SectionName) != l.Name) || (p.Port != nil && int32(*p.Port) != l.Port) {
				continue
			}
			if !allowsRoute(g, l.Name, h.Namespace) {
				refused = fmt.Sprintf("listener %q does not allow routes from namespace %q (allowedRoutes)", l.Name, h.Namespace)
				continue
			}
			if v.attachedTo(routeKey{"HTTPRoute", nn(h)}, l) {
				attached++ // an earlier parentRef already attached it here
				continue
			}
			hosts, ok := intersectHostnames(l.Hostname, h.Spec.Hostnames)
			if !ok {
				refused = fmt.Sprintf("no route hostname matches listener %q hostname %q", l.Name, *l.Hostname)
				continue
			}
			mr := &Route{Kind: "HTTPRoute", Name: nn(h), Hostnames: hosts}
			for i := range h.Spec.Rules {
				mr.Rules = append(mr.Rules, &Rule{Index: i, Name: (*string)(h.Spec.Rules[i].Name), Spec: &h.Spec.Rules[i], Backends: backends[i]})
			}
			v.attach(gwNN, l, p, mr)
			attached++
		}
		if attached == 0 {
			e.add(path, "not attached to Gateway %s: %s", gwNN, refused)
		}
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
