package xds

import (
	"sort"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/envoy-btp/envoy-btp/bootstrap"
)

// Make before break. A route naming a cluster the Envoy does not have yet,
// or no longer has, answers 503. So a push that adds clusters first serves
// them alone with the routes as they were (and waits, at most ackWait, for
// every Envoy to ack them with their endpoints); a cluster that leaves the
// render is still served for Server.LingerFor after the routes stopped naming it,
// so requests already on it finish.
const (
	ackWait = 2 * time.Second
	// LingerFor is Server.LingerFor's default.
	LingerFor = 5 * time.Second
)

// lingering is a cluster (and its endpoints, for an EDS cluster) that left
// the render, and until when it is still served.
type lingering struct {
	cluster   *clusterv3.Cluster
	endpoints *endpointv3.ClusterLoadAssignment
	until     time.Time
}

// withAdded is served plus the clusters (and their endpoints) next adds,
// or nil when it adds none.
func withAdded(served, next *bootstrap.Resources) *bootstrap.Resources {
	have := map[string]bool{}
	for _, c := range served.Clusters {
		have[c.Name] = true
	}
	out := *served
	out.Clusters = append([]*clusterv3.Cluster(nil), served.Clusters...)
	out.Endpoints = append([]*endpointv3.ClusterLoadAssignment(nil), served.Endpoints...)
	added := map[string]bool{}
	for _, c := range next.Clusters {
		if !have[c.Name] {
			added[c.Name] = true
			out.Clusters = append(out.Clusters, c)
		}
	}
	if len(added) == 0 {
		return nil
	}
	for _, e := range next.Endpoints {
		if added[e.ClusterName] {
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	return &out
}

// reconcile serves the render plus the clusters still lingering (pushMu
// held), and schedules the push that drops them.
func (s *Server) reconcile() (uint64, error) {
	now := time.Now()
	in := map[string]bool{}
	for _, c := range s.render.Clusters {
		in[c.Name] = true
	}
	s.mu.Lock()
	served := s.res
	s.mu.Unlock()
	if served != nil {
		eps := map[string]*endpointv3.ClusterLoadAssignment{}
		for _, e := range served.Endpoints {
			eps[e.ClusterName] = e
		}
		for _, c := range served.Clusters {
			if _, ok := s.linger[c.Name]; !ok && !in[c.Name] && s.LingerFor > 0 {
				s.linger[c.Name] = lingering{cluster: c, endpoints: eps[c.Name], until: now.Add(s.LingerFor)}
			}
		}
	}
	var names []string
	for n, l := range s.linger {
		if in[n] || !now.Before(l.until) {
			delete(s.linger, n)
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	next := s.render
	if len(names) > 0 {
		out := *s.render
		out.Clusters = append([]*clusterv3.Cluster(nil), s.render.Clusters...)
		out.Endpoints = append([]*endpointv3.ClusterLoadAssignment(nil), s.render.Endpoints...)
		first := s.linger[names[0]].until
		for _, n := range names {
			l := s.linger[n]
			out.Clusters = append(out.Clusters, l.cluster)
			if l.endpoints != nil {
				out.Endpoints = append(out.Endpoints, l.endpoints)
			}
			if l.until.Before(first) {
				first = l.until
			}
		}
		next = &out
		if s.cleanup != nil {
			s.cleanup.Stop()
		}
		s.cleanup = time.AfterFunc(time.Until(first), func() {
			s.pushMu.Lock()
			defer s.pushMu.Unlock()
			if _, err := s.reconcile(); err != nil {
				s.log.printf("btp serve: dropping unused clusters: %v", err)
			}
		})
	}
	if changed, _ := changes(served, next); changed == "" {
		return s.Version(), nil
	}
	note := ""
	if len(names) > 0 {
		note = " (clusters no route names any more are kept " + s.LingerFor.String() + ", for the requests on them)"
	}
	v, _, err := s.set(next, note)
	return v, err
}
