package policy

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
)

// routingType: a rule whose policy says routingType: Service routes to the
// Services' cluster IPs instead of their endpoints. Which policy says so
// follows Envoy Gateway's BTPRoutingTypeIndex, which is not quite the
// precedence of the rest of the spec:
//   - a rule or route policy decides when it sets routingType or has no
//     mergeType (then unset means Endpoint); with mergeType and no
//     routingType it defers to the parents;
//   - a listener policy decides only when it sets routingType, and only for
//     routes whose parentRef names that listener (sectionName);
//   - else the Gateway's policy, else Endpoint.
// Headless Services have no cluster IP and keep their endpoints.

// routingTypes swaps in the cluster IPs on every attached rule that routes
// to Services.
func (a *attacher) routingTypes() {
	for rk, ats := range a.v.attachments {
		for _, at := range ats {
			for _, rule := range at.route.Rules {
				if rt := a.routingType(rk, at, rule); rt == nil || *rt != egv1a1.ServiceRoutingType {
					continue
				}
				out := make([]*Backend, len(rule.Backends))
				for i, b := range rule.Backends {
					out[i] = serviceRouted(b)
				}
				rule.Backends = out
				// Envoy Gateway resolves a RequestMirror's backend with the
				// rule's routing type too.
				if len(rule.Mirrors) > 0 {
					mirrors := make(map[int]*Backend, len(rule.Mirrors))
					for j, b := range rule.Mirrors {
						mirrors[j] = serviceRouted(b)
					}
					rule.Mirrors = mirrors
				}
			}
		}
	}
}

func (a *attacher) routingType(rk routeKey, at *attachment, rule *Rule) *egv1a1.RoutingType {
	var route []scope
	if rule.Name != nil {
		route = append(route, scope{kind: scopeRule, name: rk.NamespacedName, section: *rule.Name, routeKind: rk.kind})
	}
	route = append(route, scope{kind: scopeRoute, name: rk.NamespacedName, routeKind: rk.kind})
	for _, sc := range route {
		if p := a.claimed[sc]; p != nil && (p.Spec.RoutingType != nil || p.Spec.MergeType == nil) {
			return p.Spec.RoutingType
		}
		if a.claimed[sc] != nil {
			break // merged into its parents: the parents decide
		}
	}
	if s := at.parentRef.SectionName; s != nil {
		if p := a.claimed[scope{kind: scopeListener, name: at.gateway, section: string(*s)}]; p != nil && p.Spec.RoutingType != nil {
			return p.Spec.RoutingType
		}
	}
	if p := a.claimed[scope{kind: scopeGateway, name: at.gateway}]; p != nil {
		return p.Spec.RoutingType
	}
	return nil
}

// serviceRouted is b routed to its Service's cluster IP (b itself when it
// has none: headless Services, Backends).
func serviceRouted(b *Backend) *Backend {
	if b.serviceIP == nil {
		return b
	}
	c := *b
	c.Endpoints = b.serviceIP
	return &c
}
