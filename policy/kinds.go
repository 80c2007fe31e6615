package policy

import (
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// kind is one resource kind Read decodes. Every version of it decodes into
// the same Go type (the served versions of a Gateway API kind share one
// schema shape), so nothing after Read ever sees the version.
type kind struct {
	group, name string
	// versions are the apiVersions read. Empty for a CRD kind: every
	// version the pinned CRD serves (Envoy Gateway v1.9.1's bundle, which
	// agrees with the gateway-api module in go.mod).
	versions []string
	new      func() metav1.Object
	add      func(*Resources, metav1.Object)
}

// reads is one row of the kinds table: kind name of group, decoded into T
// and appended to the Resources list that list returns.
func reads[T any, P interface {
	*T
	metav1.Object
}](group, name string, list func(*Resources) *[]P, versions ...string) kind {
	return kind{
		group: group, name: name, versions: versions,
		new: func() metav1.Object { return P(new(T)) },
		add: func(r *Resources, o metav1.Object) { l := list(r); *l = append(*l, o.(P)) },
	}
}

// kindTable is every kind btp reads. To read another kind, add its list to
// Resources and a row here; anything not in the table is skipped with one
// warning per kind (an error under Options.Strict).
var kindTable = []kind{
	reads(gwapiv1.GroupName, "GatewayClass", func(r *Resources) *[]*gwapiv1.GatewayClass { return &r.GatewayClasses }),
	reads(gwapiv1.GroupName, "Gateway", func(r *Resources) *[]*gwapiv1.Gateway { return &r.Gateways }),
	reads(gwapiv1.GroupName, "HTTPRoute", func(r *Resources) *[]*gwapiv1.HTTPRoute { return &r.HTTPRoutes }),
	reads(gwapiv1.GroupName, "GRPCRoute", func(r *Resources) *[]*gwapiv1.GRPCRoute { return &r.GRPCRoutes }),
	reads(gwapiv1.GroupName, "TCPRoute", func(r *Resources) *[]*gwapiv1.TCPRoute { return &r.TCPRoutes }),
	reads(gwapiv1.GroupName, "UDPRoute", func(r *Resources) *[]*gwapiv1.UDPRoute { return &r.UDPRoutes }),
	reads(gwapiv1.GroupName, "TLSRoute", func(r *Resources) *[]*gwapiv1.TLSRoute { return &r.TLSRoutes }),
	reads(egv1a1.GroupName, "BackendTrafficPolicy", func(r *Resources) *[]*egv1a1.BackendTrafficPolicy { return &r.Policies }),
	reads(egv1a1.GroupName, "Backend", func(r *Resources) *[]*egv1a1.Backend { return &r.Backends }),
	reads("", "Service", func(r *Resources) *[]*corev1.Service { return &r.Services }, "v1"),
	reads(discoveryv1.GroupName, "EndpointSlice", func(r *Resources) *[]*discoveryv1.EndpointSlice { return &r.EndpointSlices }, "v1"),
	reads("", "ConfigMap", func(r *Resources) *[]*corev1.ConfigMap { return &r.ConfigMaps }, "v1"),
	reads("", "Namespace", func(r *Resources) *[]*corev1.Namespace { return &r.Namespaces }, "v1"),
	reads(gwapiv1.GroupName, "ReferenceGrant", func(r *Resources) *[]*gwapiv1.ReferenceGrant { return &r.ReferenceGrants }),
	reads("", "Secret", func(r *Resources) *[]*corev1.Secret { return &r.Secrets }, "v1"),
	reads(gwapiv1.GroupName, "ListenerSet", func(r *Resources) *[]*gwapiv1.ListenerSet { return &r.ListenerSets }),
}

// groupKind is "group/Kind", "Kind" for the core group.
func groupKind(group, name string) string {
	if group == "" {
		return name
	}
	return group + "/" + name
}

// splitAPIVersion splits "group/version" ("v1" for the core group).
func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// lookupKind finds the table row for apiVersion/kind. known is false when
// btp does not read the kind (it is then skipped); a read kind in a version
// that is not served is an error (err names the served ones), and so is a
// kind that none of the pinned CRDs of a Gateway API or Envoy Gateway group
// defines (a typo would otherwise be skipped).
func lookupKind(apiVersion, name string) (k *kind, known bool, err error) {
	group, version := splitAPIVersion(apiVersion)
	crds, cerr := crdIndex()
	if cerr != nil {
		return nil, false, cerr
	}
	for i := range kindTable {
		row := &kindTable[i]
		if row.group != group || row.name != name {
			continue
		}
		served := row.versions
		if len(served) == 0 {
			served = crds.served[groupKind(group, name)]
		}
		for _, v := range served {
			if v == version || (group == "" && v == apiVersion) {
				return row, true, nil
			}
		}
		return nil, true, fmt.Errorf("apiVersion %q is not served for %s: allowed %s", apiVersion, name, apiVersions(group, served))
	}
	if crds.groups[group] && len(crds.served[groupKind(group, name)]) == 0 {
		return nil, false, fmt.Errorf("unknown kind %q in group %s: allowed %s", name, group, strings.Join(crds.kindsOf(group), ", "))
	}
	return nil, false, nil
}

func apiVersions(group string, versions []string) string {
	out := make([]string, len(versions))
	for i, v := range versions {
		out[i] = v
		if group != "" {
			out[i] = group + "/" + v
		}
	}
	return strings.Join(out, ", ")
}

// readKinds lists the kinds btp reads, for messages.
func readKinds() string {
	s := make([]string, len(kindTable))
	for i, k := range kindTable {
		s[i] = groupKind(k.group, k.name)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// skippedKind counts the resources of one kind btp does not read.
type skippedKind struct {
	kind        string   // group/Kind
	apiVersions []string // as seen, in order
	count       int
	files       []string // distinct, in order
}

func (r *Resources) skip(file, apiVersion, name string) {
	group, _ := splitAPIVersion(apiVersion)
	gk := groupKind(group, name)
	var s *skippedKind
	for _, k := range r.skipped {
		if k.kind == gk {
			s = k
		}
	}
	if s == nil {
		s = &skippedKind{kind: gk}
		r.skipped = append(r.skipped, s)
	}
	s.count++
	if !contains(s.apiVersions, apiVersion) {
		s.apiVersions = append(s.apiVersions, apiVersion)
	}
	if !contains(s.files, file) {
		s.files = append(s.files, file)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Skipped is one line per kind btp read past: how many, which apiVersions,
// the first file holding one. strict words them as errors.
func (r *Resources) Skipped(strict bool) ErrorList {
	var out ErrorList
	for _, s := range r.skipped {
		where := strings.Join(s.apiVersions, ", ")
		if n := len(s.files) - 1; n > 0 {
			where += fmt.Sprintf("; also in %d other file(s)", n)
		}
		noun := "resource"
		if s.count > 1 {
			noun = "resources"
		}
		msg := fmt.Sprintf("skipped %d %s %s (%s): btp does not read this kind", s.count, s.kind, noun, where)
		if strict {
			msg = fmt.Sprintf("%d %s %s (%s): btp does not read this kind (--strict): allowed %s", s.count, s.kind, noun, where, readKinds())
		}
		out = append(out, &Error{File: s.files[0], Msg: msg})
	}
	return out
}
