package policy

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeKey names one route of any kind: an HTTPRoute and a TCPRoute may
// share a name, as in Envoy Gateway's policy target keys.
type routeKey struct {
	kind string
	types.NamespacedName
}

// xRoute is what policy attachment needs of any route kind: its parents,
// its rule names (for sectionName targets) and its labels and age (for
// targetSelectors).
type xRoute struct {
	kind      string
	obj       metav1.Object
	parents   []gwapiv1.ParentReference
	ruleNames []*gwapiv1.SectionName // per rule, nil when unnamed
}

func (x *xRoute) key() routeKey { return routeKey{x.kind, nn(x.obj)} }

// ruleIndex is the index of the rule called name, -1 when there is none.
func (x *xRoute) ruleIndex(name string) int {
	for i, n := range x.ruleNames {
		if n != nil && string(*n) == name {
			return i
		}
	}
	return -1
}

// ruleList lists the rule names for "allowed ..." messages.
func (x *xRoute) ruleList() string {
	var n []string
	for _, r := range x.ruleNames {
		if r != nil {
			n = append(n, string(*r))
		}
	}
	if len(n) == 0 {
		return "none (the route's rules have no name)"
	}
	return strings.Join(n, ", ")
}

// xRoutes lists every route read, HTTPRoutes first, then GRPCRoutes, each
// kind in input order.
func xRoutes(r *Resources) []*xRoute {
	var out []*xRoute
	for _, h := range r.HTTPRoutes {
		x := &xRoute{kind: "HTTPRoute", obj: h, parents: h.Spec.ParentRefs}
		for i := range h.Spec.Rules {
			x.ruleNames = append(x.ruleNames, h.Spec.Rules[i].Name)
		}
		out = append(out, x)
	}
	for _, g := range r.GRPCRoutes {
		x := &xRoute{kind: "GRPCRoute", obj: g, parents: g.Spec.ParentRefs}
		for i := range g.Spec.Rules {
			x.ruleNames = append(x.ruleNames, g.Spec.Rules[i].Name)
		}
		out = append(out, x)
	}
	for _, tr := range r.TCPRoutes {
		x := &xRoute{kind: KindTCPRoute, obj: tr, parents: tr.Spec.ParentRefs}
		for i := range tr.Spec.Rules {
			x.ruleNames = append(x.ruleNames, tr.Spec.Rules[i].Name)
		}
		out = append(out, x)
	}
	for _, tr := range r.TLSRoutes {
		x := &xRoute{kind: KindTLSRoute, obj: tr, parents: tr.Spec.ParentRefs}
		for i := range tr.Spec.Rules {
			x.ruleNames = append(x.ruleNames, tr.Spec.Rules[i].Name)
		}
		out = append(out, x)
	}
	for _, ur := range r.UDPRoutes {
		x := &xRoute{kind: KindUDPRoute, obj: ur, parents: ur.Spec.ParentRefs}
		for i := range ur.Spec.Rules {
			x.ruleNames = append(x.ruleNames, ur.Spec.Rules[i].Name)
		}
		out = append(out, x)
	}
	return out
}

// readRouteKinds are the route kinds btp reads and policies may target.
var readRouteKinds = []string{"HTTPRoute", "GRPCRoute", "TCPRoute", "UDPRoute", "TLSRoute"}

func isReadRouteKind(k string) bool { return in(k, readRouteKinds...) }
