package policy

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// handledGateways returns the Gateways Envoy Gateway would program and
// records the others (foreign) with a warning each. Envoy Gateway programs a
// Gateway when its GatewayClass names Envoy Gateway's controller. With
// --gateway-class the named classes are handled whatever their
// controllerName (or whether the input holds them at all). An input with no
// GatewayClass at all (a directory of Gateways, routes and policies, as in
// examples/) is taken to be meant for Envoy Gateway: every Gateway is
// handled.
func (v *resolver) handledGateways(o Options) []*gwapiv1.Gateway {
	classes := map[string]*gwapiv1.GatewayClass{}
	for _, c := range v.r.GatewayClasses {
		classes[c.Name] = c
	}
	named := map[string]bool{}
	for _, n := range o.GatewayClasses {
		named[n] = true
	}
	used := map[string]bool{}
	var out []*gwapiv1.Gateway
	for _, g := range v.r.Gateways {
		class := string(g.Spec.GatewayClassName)
		used[class] = true
		why := ""
		c, found := classes[class]
		switch {
		case len(named) > 0:
			if !named[class] {
				why = fmt.Sprintf("not a class btp was asked to handle (--gateway-class %s)", strings.Join(o.GatewayClasses, ", "))
			}
		case len(classes) == 0:
		case !found:
			why = fmt.Sprintf("the input holds no GatewayClass %q (it holds %s)", class, keysOf(classes))
		case c.Spec.ControllerName != ControllerName:
			why = fmt.Sprintf("GatewayClass %q has controllerName %q, not Envoy Gateway's %s", class, c.Spec.ControllerName, ControllerName)
		}
		if why == "" {
			out = append(out, g)
			continue
		}
		v.foreign[nn(g)] = true
		v.model.Warnings = append(v.model.Warnings, &Error{
			File: v.r.File("Gateway", g.Namespace, g.Name), Resource: resourceID("Gateway", g.Namespace, g.Name), Field: "spec.gatewayClassName",
			Msg: fmt.Sprintf("%q: skipped, as Envoy Gateway would ignore it: %s; --gateway-class %s handles it", class, why, class),
		})
	}
	for _, n := range o.GatewayClasses {
		if !used[n] {
			v.model.Warnings = append(v.model.Warnings, &Error{Msg: fmt.Sprintf("--gateway-class %s: no Gateway of the input has this class", n)})
		}
	}
	return out
}

// isForeign reports whether n is a Gateway of a class btp does not handle:
// references to it are some other controller's business, not errors.
func (v *resolver) isForeign(n types.NamespacedName) bool {
	return v.foreign[n]
}

func keysOf[T any](m map[string]T) string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, fmt.Sprintf("%q", s))
	}
	sort.Strings(k)
	return strings.Join(k, ", ")
}
