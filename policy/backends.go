package policy

import (
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ruleBackends resolves a rule's backendRefs (rulePath.backendRefs of a
// route in namespace ns) to endpoints. A reference to another namespace
// needs a ReferenceGrant there admitting the route's kind, as in Gateway API.
func (v *resolver) ruleBackends(ns string, refs []gwapiv1.BackendRef, rulePath string, e errs) []*Backend {
	var out []*Backend
	for j := range refs {
		ref := &refs[j]
		path := fmt.Sprintf("%s.backendRefs[%d]", rulePath, j)
		group, kind := "", "Service"
		if ref.Group != nil {
			group = string(*ref.Group)
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		refNS := ns
		if ref.Namespace != nil && string(*ref.Namespace) != ns {
			refNS = string(*ref.Namespace)
			from, _, _ := strings.Cut(e.res, "/")
			if !v.granted(gwapiv1.GroupName, from, ns, group, kind, refNS, string(ref.Name)) {
				// Envoy Gateway: ResolvedRefs False, RefNotPermitted.
				e.add(path+".namespace", "%s %s/%s in another namespace needs a ReferenceGrant in namespace %s from %s in namespace %s: none admits it", kind, refNS, ref.Name, refNS, from, ns)
				continue
			}
		}
		key := types.NamespacedName{Namespace: refNS, Name: string(ref.Name)}
		weight := int32(1)
		if ref.Weight != nil {
			weight = *ref.Weight
		}
		b := &Backend{Kind: kind, Name: key, Weight: weight}
		if ref.Port != nil {
			b.Port = int32(*ref.Port)
		}
		switch {
		case group == "" && kind == "Service":
			if !v.serviceEndpoints(b, path, e) {
				continue
			}
		case group == egv1a1.GroupName && kind == "Backend":
			if !v.backendEndpoints(b, path, e) {
				continue
			}
		default:
			e.add(path+".kind", "unsupported backend %q: allowed Service (group \"\"), Backend (group %s)", strings.TrimPrefix(group+"/"+kind, "/"), egv1a1.GroupName)
			continue
		}
		out = append(out, b)
	}
	return out
}

// serviceEndpoints resolves a Service backend as Envoy Gateway routes to it
// by default: the endpoints of the EndpointSlices labelled for the Service
// (endpointslices.go). Without any EndpointSlice for it, btp falls back to
// what the Service itself says: its cluster IP and the service port; a
// headless one (no clusterIP or "None") is its cluster DNS name; an
// ExternalName one is that name. The cluster IP is also kept for rules
// whose policy says routingType: Service (routingtype.go).
func (v *resolver) serviceEndpoints(b *Backend, path string, e errs) bool {
	svc, ok := v.services[b.Name]
	if !ok {
		e.add(path+".name", "Service %q not found: allowed %s", b.Name.String(), keys(v.services))
		return false
	}
	if b.Port == 0 {
		e.add(path+".port", "required for a Service backend")
		return false
	}
	var ports []string
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprint(p.Port))
		if p.Port == b.Port && sp == nil {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		e.add(path+".port", "port %d not found on Service %s: allowed %s", b.Port, b.Name, strings.Join(ports, ", "))
		return false
	}
	if sp.AppProtocol != nil {
		b.AppProtocol = *sp.AppProtocol
	}
	ip := svc.Spec.ClusterIP
	headless := ip == "" || ip == corev1.ClusterIPNone
	if svc.Spec.Type != corev1.ServiceTypeExternalName && !headless {
		b.serviceIP = []Endpoint{{Address: ip, Port: uint32(b.Port)}}
	}
	if slices := v.endpointSlices[b.Name]; len(slices) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
		eps, err := sliceEndpoints(slices, sp)
		if err != nil {
			e.add(path+".name", "Service %s: %v", b.Name, err)
			return false
		}
		b.Endpoints = eps
		return true
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		b.Endpoints = []Endpoint{{Address: svc.Spec.ExternalName, Port: uint32(b.Port), Hostname: true}}
	case headless:
		b.Endpoints = []Endpoint{{Address: fmt.Sprintf("%s.%s.svc.cluster.local", b.Name.Name, b.Name.Namespace), Port: uint32(b.Port), Hostname: true}}
	default:
		b.Endpoints = b.serviceIP
	}
	return true
}

// backendEndpoints uses the Backend's ip/fqdn endpoints; a backendRef port,
// when set, keeps only the endpoints on that port.
func (v *resolver) backendEndpoints(b *Backend, path string, e errs) bool {
	be, ok := v.backends[b.Name]
	if !ok {
		e.add(path+".name", "Backend %q not found: allowed %s", b.Name.String(), keys(v.backends))
		return false
	}
	var ports []string
	for _, ep := range be.Spec.Endpoints {
		var out Endpoint
		switch {
		case ep.IP != nil:
			out = Endpoint{Address: ep.IP.Address, Port: uint32(ep.IP.Port)}
		case ep.FQDN != nil:
			out = Endpoint{Address: ep.FQDN.Hostname, Port: uint32(ep.FQDN.Port), Hostname: true}
		default:
			continue // reported by checkBackend
		}
		ports = append(ports, fmt.Sprint(out.Port))
		if b.Port == 0 || uint32(b.Port) == out.Port {
			b.Endpoints = append(b.Endpoints, out)
		}
	}
	if len(b.Endpoints) == 0 {
		if b.Port != 0 {
			e.add(path+".port", "port %d not found on Backend %s: allowed %s", b.Port, b.Name, strings.Join(ports, ", "))
		}
		return false
	}
	return true
}

// checkBackend reports the Backend features btp cannot render.
func (v *resolver) checkBackend(b *egv1a1.Backend) {
	e := v.errs("Backend", b)
	if b.Spec.Type != nil && *b.Spec.Type != egv1a1.BackendTypeEndpoints {
		e.add("spec.type", "unsupported value %q: allowed Endpoints", *b.Spec.Type)
	}
	if len(b.Spec.Endpoints) == 0 {
		e.add("spec.endpoints", "required: at least one ip or fqdn endpoint")
	}
	for i, ep := range b.Spec.Endpoints {
		if ep.Unix != nil {
			e.add(fmt.Sprintf("spec.endpoints[%d].unix", i), "not supported: allowed ip, fqdn")
		}
		if ep.Zone != nil {
			e.add(fmt.Sprintf("spec.endpoints[%d].zone", i), "not supported")
		}
	}
	if len(b.Spec.AppProtocols) > 0 {
		e.add("spec.appProtocols", "not supported")
	}
	if b.Spec.TLS != nil {
		e.add("spec.tls", "not supported: envoy-btp connects to backends in plain text")
	}
	if b.Spec.Fallback != nil {
		e.add("spec.fallback", "not supported")
	}
}

func nnOf(defaultNS string, ns *gwapiv1.Namespace, name string) types.NamespacedName {
	if ns != nil && *ns != "" {
		return types.NamespacedName{Namespace: string(*ns), Name: name}
	}
	return types.NamespacedName{Namespace: defaultNS, Name: name}
}

// keys lists a map's names for "allowed ..." messages.
func keys[T any](m map[types.NamespacedName]T) string {
	if len(m) == 0 {
		return "none defined"
	}
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k.String())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
