// Package xds serves the btp render over Envoy's aggregated discovery
// service (state of the world and delta) from a go-control-plane snapshot
// cache: every node gets the current snapshot, a refused edit keeps the last
// good one, and each Envoy's ACKs and NACKs are logged and reported on an
// HTTP status endpoint.
package xds

import (
	"fmt"
	"sort"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/envoy-btp/envoy-btp/bootstrap"
)

// Types are the resource types a snapshot holds, in the order Envoy needs
// them (and the push line counts them).
var Types = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// shortType names a type URL in log lines.
var shortType = map[string]string{
	resourcev3.ListenerType: "listener",
	resourcev3.RouteType:    "route",
	resourcev3.ClusterType:  "cluster",
	resourcev3.EndpointType: "endpoints",
	resourcev3.SecretType:   "secret",
}

// byType lists res by type URL.
func byType(res *bootstrap.Resources) map[string][]types.Resource {
	m := map[string][]types.Resource{}
	for _, l := range res.Listeners {
		m[resourcev3.ListenerType] = append(m[resourcev3.ListenerType], l)
	}
	for _, r := range res.Routes {
		m[resourcev3.RouteType] = append(m[resourcev3.RouteType], r)
	}
	for _, c := range res.Clusters {
		m[resourcev3.ClusterType] = append(m[resourcev3.ClusterType], c)
	}
	for _, e := range res.Endpoints {
		m[resourcev3.EndpointType] = append(m[resourcev3.EndpointType], e)
	}
	for _, s := range res.Secrets {
		m[resourcev3.SecretType] = append(m[resourcev3.SecretType], s)
	}
	for _, t := range Types {
		if m[t] == nil {
			m[t] = []types.Resource{} // an empty type still tells Envoy to drop what it had
		}
	}
	return m
}

// NewSnapshot is res as a consistent snapshot at version: every route
// configuration and endpoint set a listener or cluster names is in it, and
// nothing else.
func NewSnapshot(version string, res *bootstrap.Resources) (*cachev3.Snapshot, error) {
	s, err := cachev3.NewSnapshot(version, byType(res))
	if err != nil {
		return nil, err
	}
	if err := s.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot %s is inconsistent (a bug in envoy-btp, please report it): %w", version, err)
	}
	return s, nil
}

// changes says what differs from prev to next, by type and name
// (+added, -removed, changed), "all" for the first snapshot and "" when
// nothing does, and the type URLs that differ.
func changes(prev, next *bootstrap.Resources) (string, []string) {
	if prev == nil {
		return "all", Types
	}
	a, b := byType(prev), byType(next)
	var parts, typeURLs []string
	for _, t := range Types {
		old := map[string]types.Resource{}
		for _, r := range a[t] {
			old[cachev3.GetResourceName(r)] = r
		}
		var names []string
		for _, r := range b[t] {
			n := cachev3.GetResourceName(r)
			o, ok := old[n]
			switch {
			case !ok:
				names = append(names, "+"+n)
			case !proto.Equal(o, r):
				names = append(names, n)
			}
			delete(old, n)
		}
		for n := range old {
			names = append(names, "-"+n)
		}
		if len(names) == 0 {
			continue
		}
		typeURLs = append(typeURLs, t)
		sort.Strings(names)
		const most = 5 // a line stays readable when a shared policy changes many clusters
		if len(names) > most {
			names = append(names[:most], fmt.Sprintf("and %d more", len(names)-most))
		}
		parts = append(parts, shortType[t]+" "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; "), typeURLs
}
