package policy

import (
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// resolver holds the indexes one Resolve call works from.
type resolver struct {
	r          *Resources
	list       ErrorList
	gateways   map[types.NamespacedName]*gwapiv1.Gateway
	routes     map[routeKey]*xRoute
	services   map[types.NamespacedName]*corev1.Service
	backends   map[types.NamespacedName]*egv1a1.Backend
	configMaps map[types.NamespacedName]*corev1.ConfigMap
	secrets    map[types.NamespacedName]*corev1.Secret
	// endpointSlices by the Service they are labelled for.
	endpointSlices map[types.NamespacedName][]*discoveryv1.EndpointSlice

	model *Model
	// listeners by gateway and listener name.
	listeners map[types.NamespacedName]map[string]*Listener
	// attachments of each route: where it attached, through which parentRef.
	attachments map[routeKey][]*attachment
	// sets are the admitted ListenerSets (listenersets.go).
	sets map[types.NamespacedName]*listenerSet
	// foreign are the Gateways of classes btp does not handle.
	foreign map[types.NamespacedName]bool
}

// attachment is one route attached to one listener.
type attachment struct {
	gateway   types.NamespacedName
	listener  *Listener
	parentRef *gwapiv1.ParentReference
	route     *Route
}

func (v *resolver) errs(kind string, o metav1.Object) errs {
	return errs{list: &v.list, file: v.r.File(kind, o.GetNamespace(), o.GetName()), res: resourceID(kind, o.GetNamespace(), o.GetName())}
}

func nn(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Resolve validates r's references and builds the Model: every HTTP
// listener with its attached routes, their backends resolved to endpoints,
// the effective BackendTrafficPolicy per rule, and each policy's status.
// The Model is returned even when there are errors (an ErrorList).
func Resolve(r *Resources) (*Model, error) {
	return Options{}.Resolve(r)
}

// Resolve is the package-level Resolve with these options.
func (o Options) Resolve(r *Resources) (*Model, error) {
	v := &resolver{
		r:              r,
		gateways:       map[types.NamespacedName]*gwapiv1.Gateway{},
		routes:         map[routeKey]*xRoute{},
		services:       map[types.NamespacedName]*corev1.Service{},
		backends:       map[types.NamespacedName]*egv1a1.Backend{},
		configMaps:     map[types.NamespacedName]*corev1.ConfigMap{},
		secrets:        map[types.NamespacedName]*corev1.Secret{},
		endpointSlices: indexEndpointSlices(r.EndpointSlices),
		model:          &Model{},
		listeners:      map[types.NamespacedName]map[string]*Listener{},
		attachments:    map[routeKey][]*attachment{},
		foreign:        map[types.NamespacedName]bool{},
	}
	handled := v.handledGateways(o)
	for _, g := range handled {
		v.gateways[nn(g)] = g
	}
	for _, x := range xRoutes(r) {
		v.routes[x.key()] = x
	}
	for _, s := range r.Services {
		v.services[nn(s)] = s
	}
	for _, b := range r.Backends {
		v.backends[nn(b)] = b
	}
	for _, c := range r.ConfigMaps {
		v.configMaps[nn(c)] = c
	}
	for _, s := range r.Secrets {
		v.secrets[nn(s)] = s
	}
	for _, g := range sortedByAge(handled) {
		v.gateway(g)
	}
	v.listenerSets()
	for _, b := range r.Backends {
		v.checkBackend(b)
	}
	for _, h := range sortedByAge(r.HTTPRoutes) {
		v.route(h)
	}
	for _, g := range sortedByAge(r.GRPCRoutes) {
		v.routeGRPC(g)
	}
	for _, tr := range sortedByAge(r.TCPRoutes) {
		v.routeL4(KindTCPRoute, tr, tr.Spec.UseDefaultGateways, tcpRules(tr))
	}
	for _, tr := range sortedByAge(r.TLSRoutes) {
		v.routeTLS(tr)
	}
	for _, ur := range sortedByAge(r.UDPRoutes) {
		v.routeL4(KindUDPRoute, ur, ur.Spec.UseDefaultGateways, udpRules(ur))
	}
	v.policies()
	return v.model, v.list.Err()
}

// sortedByAge orders objects as Envoy Gateway does: oldest first
// (creationTimestamp), then by namespace/name.
func sortedByAge[T metav1.Object](in []T) []T {
	out := append([]T(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return olderThan(out[i], out[j]) })
	return out
}

func olderThan(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

func (v *resolver) gateway(g *gwapiv1.Gateway) {
	e := v.errs("Gateway", g)
	mg := &Gateway{Name: nn(g)}
	v.listeners[mg.Name] = map[string]*Listener{}
	for i := range g.Spec.Listeners {
		l := &g.Spec.Listeners[i]
		path := fmt.Sprintf("spec.listeners[%d]", i)
		if _, dup := v.listeners[mg.Name][string(l.Name)]; dup {
			continue // Read reported it (listeners are a list-type map keyed by name)
		}
		if !in(string(l.Protocol), string(gwapiv1.HTTPProtocolType), string(gwapiv1.HTTPSProtocolType), string(gwapiv1.TCPProtocolType), string(gwapiv1.UDPProtocolType), string(gwapiv1.TLSProtocolType)) {
			e.add(path+".protocol", "unsupported value %q: allowed HTTP, HTTPS, TLS, TCP, UDP", l.Protocol)
		}
		tls := v.listenerTLS("Gateway", g.Namespace, l, path, e)
		if ar := l.AllowedRoutes; ar != nil {
			if ns := ar.Namespaces; ns != nil && ns.From != nil && *ns.From == gwapiv1.NamespacesFromSelector {
				e.add(path+".allowedRoutes.namespaces.from", "unsupported value \"Selector\": allowed All, Same (btp reads no Namespace objects)")
			}
			for k, rk := range ar.Kinds {
				if !in(string(rk.Kind), listenerKinds(l.Protocol, l.TLS)...) || (rk.Group != nil && *rk.Group != gwapiv1.GroupName) {
					e.add(fmt.Sprintf("%s.allowedRoutes.kinds[%d]", path, k), "unsupported value %q on a %s listener: allowed %s", rk.Kind, l.Protocol, strings.Join(listenerKinds(l.Protocol, l.TLS), ", "))
				}
			}
		}
		ml := &Listener{Name: string(l.Name), Port: int32(l.Port), Protocol: l.Protocol, TLS: tls, tls: l.TLS, section: string(l.Name), allowed: l.AllowedRoutes, ns: g.Namespace}
		if l.Hostname != nil {
			h := string(*l.Hostname)
			ml.Hostname = &h
		}
		mg.Listeners = append(mg.Listeners, ml)
		v.listeners[mg.Name][ml.Name] = ml
	}
	if len(g.Spec.Addresses) > 0 {
		e.add("spec.addresses", "not supported: listeners bind to 0.0.0.0 on their port")
	}
	if g.Spec.Infrastructure != nil {
		e.add("spec.infrastructure", "not supported: there is no infrastructure to provision")
	}
	v.checkAllowedListeners(g, e)
	if g.Spec.TLS != nil {
		e.add("spec.tls", "not supported: envoy-btp renders plain HTTP listeners")
	}
	if g.Spec.DefaultScope != "" {
		e.add("spec.defaultScope", "not supported")
	}
	// Gateway API: the combination of port, protocol and hostname must be
	// unique; two listeners on one port need distinct hostnames.
	seen := map[string]int{}
	for i, l := range g.Spec.Listeners {
		host := ""
		if l.Hostname != nil {
			host = string(*l.Hostname)
		}
		key := fmt.Sprintf("%d/%s/%s", l.Port, l.Protocol, host)
		if prev, dup := seen[key]; dup {
			e.add(fmt.Sprintf("spec.listeners[%d]", i), "same port %d, protocol and hostname %q as spec.listeners[%d]: the combination must be unique", l.Port, host, prev)
		}
		seen[key] = i
	}
	v.model.Gateways = append(v.model.Gateways, mg)
}

// allowsRoute reports whether listener l admits a route from namespace ns
// (allowedRoutes.namespaces; default Same: the namespace of the Gateway or
// ListenerSet declaring it).
func allowsRoute(l *Listener, ns string) bool {
	from := gwapiv1.NamespacesFromSame
	if ar := l.allowed; ar != nil && ar.Namespaces != nil && ar.Namespaces.From != nil {
		from = *ar.Namespaces.From
	}
	return from == gwapiv1.NamespacesFromAll || ns == l.ns
}

// listenerKinds are the route kinds a listener of protocol p can carry, as
// Envoy Gateway's translator allows them (HTTPRoute and GRPCRoute on HTTP,
// TCPRoute on TCP, TLSRoute on a TLS Passthrough listener, TCPRoute and
// TLSRoute on a TLS Terminate one: allowedRouteKindsForProtocol).
func listenerKinds(p gwapiv1.ProtocolType, tls *gwapiv1.ListenerTLSConfig) []string {
	switch p {
	case gwapiv1.TCPProtocolType:
		return []string{KindTCPRoute}
	case gwapiv1.UDPProtocolType:
		return []string{KindUDPRoute}
	case gwapiv1.TLSProtocolType:
		if tls != nil && tls.Mode != nil && *tls.Mode == gwapiv1.TLSModePassthrough {
			return []string{KindTLSRoute}
		}
		return []string{KindTCPRoute, KindTLSRoute}
	}
	return []string{KindHTTPRoute, KindGRPCRoute}
}

// allowsKind reports whether listener l admits routes of kind
// (allowedRoutes.kinds, by default every kind its protocol carries).
func allowsKind(l *Listener, kind string) bool {
	if !in(kind, listenerKinds(l.Protocol, l.tls)...) {
		return false
	}
	if l.allowed == nil || len(l.allowed.Kinds) == 0 {
		return true
	}
	for _, rk := range l.allowed.Kinds {
		if string(rk.Kind) == kind && (rk.Group == nil || *rk.Group == gwapiv1.GroupName) {
			return true
		}
	}
	return false
}

func listenerNames(g *gwapiv1.Gateway) string {
	n := make([]string, len(g.Spec.Listeners))
	for i, l := range g.Spec.Listeners {
		n[i] = string(l.Name)
	}
	return strings.Join(n, ", ")
}
