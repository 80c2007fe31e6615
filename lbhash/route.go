package lbhash

import (
	"fmt"
	"slices"
)

// Cluster is one upstream cluster a route can send to.
type Cluster struct {
	Name string
	// Weight is the cluster's weight under weighted_clusters (ignored for
	// a single cluster).
	Weight uint32
	Hosts  *HostSet
	LB     Balancer
	// Policies, when non-nil, are the cluster's own hash policies
	// (HttpProtocolOptions.hash_policy): Envoy hashes the host pick with
	// them instead of the route's.
	Policies Policies
}

// Route is a route's hashing as Envoy applies it: its hash policies, and
// one cluster or several weighted clusters.
type Route struct {
	Policies Policies
	Clusters []Cluster
	// HashPicksCluster is weighted_clusters.use_hash_policy: the request
	// hash (without cookie generation) also picks the cluster. Without it
	// Envoy picks a weighted cluster at random.
	HashPicksCluster bool

	// Retries is the retry policy's num_retries (0: the route does not
	// retry).
	Retries uint32
	// RetryAvoidsTried is the previous_hosts retry host predicate: a retry
	// picks again while the pick was tried before, at most
	// HostSelectionAttempts more times (host_selection_retry_max_attempts).
	RetryAvoidsTried      bool
	HostSelectionAttempts uint32
}

// Validate checks the route can be evaluated.
func (rt *Route) Validate() error {
	if err := rt.Policies.Validate(); err != nil {
		return err
	}
	for i, c := range rt.Clusters {
		if err := c.Policies.Validate(); err != nil {
			return fmt.Errorf("cluster [%d] %q: %w", i, c.Name, err)
		}
	}
	if len(rt.Clusters) == 0 {
		return fmt.Errorf("route has no cluster")
	}
	for i, c := range rt.Clusters {
		if c.LB == nil || c.Hosts == nil {
			return fmt.Errorf("cluster [%d] %q: no hosts or load balancer", i, c.Name)
		}
	}
	return nil
}

// Choice is where Envoy sends one request.
type Choice struct {
	// Outcome is Unpredictable when Envoy would draw a random value for
	// the cluster or the host; Cluster and Host are then -1.
	Outcome Outcome
	Hash    uint64
	Cluster int // index into Route.Clusters
	Host    int // index into that cluster's Hosts.Hosts
}

// Choose predicts the cluster and host for r.
func (rt *Route) Choose(r *Request) Choice {
	cluster := 0
	if len(rt.Clusters) > 1 {
		if !rt.HashPicksCluster {
			return Choice{Cluster: -1, Host: -1}
		}
		h := rt.Policies.HashNoCookieGeneration(r)
		if h.Outcome == Unpredictable {
			return Choice{Cluster: -1, Host: -1}
		}
		var stack [8]uint32
		ws := stack[:0]
		for i := range rt.Clusters {
			ws = append(ws, rt.Clusters[i].Weight)
		}
		if cluster = PickWeighted(ws, h.Value); cluster < 0 {
			return Choice{Cluster: -1, Host: -1}
		}
	}
	policies := rt.Policies
	if rt.Clusters[cluster].Policies != nil {
		policies = rt.Clusters[cluster].Policies
	}
	h := policies.Hash(r)
	if h.Outcome == Unpredictable {
		return Choice{Cluster: cluster, Host: -1}
	}
	host := rt.Clusters[cluster].LB.Pick(h.Value)
	return Choice{Outcome: h.Outcome, Hash: h.Value, Cluster: cluster, Host: host}
}

// Retry predicts where a retry of r goes after the hosts in tried
// (addresses) failed: Envoy hashes the request again and, with the
// previous_hosts predicate, re-picks with the hash mutated per attempt
// (Balancer.PickAttempt) until a host not tried comes up or the selection
// attempts run out (then the last pick stands). The cluster stays the one
// first chosen.
func (rt *Route) Retry(r *Request, tried []string) Choice {
	c := rt.Choose(r)
	if c.Host < 0 || !rt.RetryAvoidsTried {
		return c
	}
	cl := &rt.Clusters[c.Cluster]
	for i := uint32(0); i <= rt.HostSelectionAttempts; i++ {
		c.Host = cl.LB.PickAttempt(c.Hash, i)
		if c.Host < 0 || !slices.Contains(tried, cl.Hosts.Hosts[c.Host].Address) {
			break
		}
	}
	return c
}

// Endpoint names the chosen host ("ip:port"), or "" when unpredictable.
func (rt *Route) Endpoint(c Choice) string {
	if c.Cluster < 0 || c.Host < 0 {
		return ""
	}
	return rt.Clusters[c.Cluster].Hosts.Hosts[c.Host].Address
}
