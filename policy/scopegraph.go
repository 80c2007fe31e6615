package policy

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// scopeKind is where a policy attaches, from least to most specific in
// Envoy Gateway's processing order (reversed).
type scopeKind int

const (
	scopeGateway scopeKind = iota
	scopeListener
	scopeRoute
	scopeRule
	// scopeListenerSet is a ListenerSet; its routes are recorded under it,
	// and it is contained in its Gateway (listenersets.go).
	scopeListenerSet
	// scopeListenerSetListener is one listener of a ListenerSet (section).
	scopeListenerSetListener
)

// scope is one place a policy can attach: a Gateway, one of its listeners,
// a route, or one of its named rules.
type scope struct {
	kind      scopeKind
	name      types.NamespacedName
	section   string
	routeKind string // route and rule scopes: HTTPRoute, TCPRoute, ...
}

func (s scope) parent() scope {
	switch s.kind {
	case scopeListener:
		return scope{kind: scopeGateway, name: s.name}
	case scopeRule:
		return scope{kind: scopeRoute, name: s.name, routeKind: s.routeKind}
	case scopeListenerSetListener:
		return scope{kind: scopeListenerSet, name: s.name}
	}
	return s
}

// scopeGraph records which child scopes override (or merge into) a parent
// scope's policy, for the Overridden and Merged conditions.
type scopeGraph struct {
	children map[scope]map[scope]bool
	contains map[scope]map[scope]bool
}

func newScopeGraph() *scopeGraph {
	return &scopeGraph{children: map[scope]map[scope]bool{}, contains: map[scope]map[scope]bool{}}
}

func (g *scopeGraph) add(parent, child scope) {
	if g.children[parent] == nil {
		g.children[parent] = map[scope]bool{}
	}
	g.children[parent][child] = true
	if parent.kind == scopeListener || parent.kind == scopeRule || parent.kind == scopeListenerSetListener {
		if g.contains[parent.parent()] == nil {
			g.contains[parent.parent()] = map[scope]bool{}
		}
		g.contains[parent.parent()][parent] = true
	}
}

// contain records that child (a ListenerSet) is inside parent (its
// Gateway), so the Gateway's withDescendants sees the child's routes.
func (g *scopeGraph) contain(parent, child scope) {
	if g.contains[parent] == nil {
		g.contains[parent] = map[scope]bool{}
	}
	g.contains[parent][child] = true
}

func (g *scopeGraph) direct(parent scope) map[scope]bool {
	out := map[scope]bool{}
	for c := range g.children[parent] {
		out[c] = true
	}
	return out
}

// withDescendants is direct() plus what was recorded under contained scopes
// (a Gateway's listeners), or under the Gateway for a listener's routes.
func (g *scopeGraph) withDescendants(parent scope) map[scope]bool {
	out := g.direct(parent)
	switch parent.kind {
	case scopeGateway, scopeRoute, scopeListenerSet:
		for d := range g.contains[parent] {
			for c := range g.children[d] {
				out[c] = true
			}
			// A ListenerSet inside a Gateway: its listeners' entries too.
			if d.kind == scopeListenerSet {
				for sub := range g.contains[d] {
					for c := range g.children[sub] {
						out[c] = true
					}
				}
			}
		}
	case scopeListener, scopeListenerSetListener:
		for c := range g.children[parent.parent()] {
			if c.kind == scopeRoute {
				out[c] = true
			}
		}
	}
	return out
}

// formatScopes renders scopes as Envoy Gateway's status messages do.
func formatScopes(s map[scope]bool) string {
	by := map[scopeKind][]string{}
	for sc := range s {
		e := sc.name.String()
		if sc.section != "" {
			e += "/" + sc.section
		}
		by[sc.kind] = append(by[sc.kind], e)
	}
	var parts []string
	for _, o := range []struct {
		k     scopeKind
		label string
	}{{scopeListener, "these gateway listeners"}, {scopeListenerSet, "these listenersets"}, {scopeListenerSetListener, "these listenerset listeners"},
		{scopeRoute, "these routes"}, {scopeRule, "these route rules"}} {
		if l := by[o.k]; len(l) > 0 {
			sort.Strings(l)
			parts = append(parts, fmt.Sprintf("%s: %v", o.label, l))
		}
	}
	return strings.Join(parts, " and ")
}
