package policy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EndpointSlices are how Envoy Gateway finds a Service's endpoints: it routes
// to the Pods behind a Service, not to its cluster IP (unless routingType:
// Service). The facts below follow its translator (GetEndpointSlicesForBackend
// and getIREndpointsFromEndpointSlice in internal/gatewayapi).

// indexEndpointSlices groups the slices by the Service they are labelled
// for (kubernetes.io/service-name, in the slice's namespace), in input
// order. Unlabelled slices belong to no Service.
func indexEndpointSlices(slices []*discoveryv1.EndpointSlice) map[types.NamespacedName][]*discoveryv1.EndpointSlice {
	out := map[types.NamespacedName][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := types.NamespacedName{Namespace: s.Namespace, Name: svc}
			out[k] = append(out[k], s)
		}
	}
	return out
}

// sliceEndpoints lists, over a Service's slices, every address of every
// endpoint on the slice port that has the service port's name and protocol
// (as Envoy Gateway matches them), with that port. Endpoints that are not
// ready (or, when both are known, terminating or not serving) are kept as
// draining, as Envoy Gateway keeps them. FQDN slices give hostname
// endpoints; slices of FQDN and IP types mixed for one Service are refused,
// as Envoy Gateway does. No endpoint at all is not an error: the cluster
// then has no endpoint and Envoy answers 503, as Envoy Gateway's route does.
func sliceEndpoints(slices []*discoveryv1.EndpointSlice, sp *corev1.ServicePort) ([]Endpoint, error) {
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var out []Endpoint
	fqdn, ip := 0, 0
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			fqdn++
		} else {
			ip++
		}
		for _, ep := range s.Endpoints {
			for _, p := range s.Ports {
				name, pp := "", corev1.ProtocolTCP
				if p.Name != nil {
					name = *p.Name
				}
				if p.Protocol != nil {
					pp = *p.Protocol
				}
				if name != sp.Name || pp != proto || p.Port == nil {
					continue
				}
				c := ep.Conditions
				var draining bool
				if c.Serving != nil && c.Terminating != nil {
					draining = *c.Terminating || !*c.Serving
				} else {
					draining = c.Ready != nil && !*c.Ready
				}
				zone := ""
				if ep.Zone != nil {
					zone = *ep.Zone
				}
				for _, a := range ep.Addresses {
					out = append(out, Endpoint{Address: a, Port: uint32(*p.Port), Hostname: s.AddressType == discoveryv1.AddressTypeFQDN,
						Draining: draining, Zone: zone})
				}
			}
		}
	}
	if fqdn > 0 && ip > 0 {
		return nil, fmt.Errorf("mixed endpointslice address type for the same backendRef is not supported (%d FQDN and %d IP EndpointSlices)", fqdn, ip)
	}
	return out, nil
}
