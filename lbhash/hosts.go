package lbhash

import (
	"fmt"
	"math"
)

// Host is one endpoint of a cluster as Envoy's load balancer sees it.
type Host struct {
	// Address is Envoy's Address::asString(): "ip:port", or "[ip]:port"
	// for IPv6. It is the key hashed onto the table unless HashKey is set
	// or the cluster hashes hostnames.
	Address string
	// Hostname is the endpoint's hostname, hashed instead of Address when
	// the cluster sets use_hostname_for_hashing.
	Hostname string
	// HashKey is the endpoint's envoy.lb metadata "hash_key"; when set it
	// is hashed instead of Address or Hostname.
	HashKey string
	// Weight is load_balancing_weight; 0 means unset (1).
	Weight uint32
	// Locality indexes HostSet.LocalityWeights when the cluster balances
	// by locality weight; otherwise it is ignored.
	Locality int
}

// HostSet is a cluster's hosts (one priority, all healthy) in the order
// the cluster lists them, and the options that change how they hash.
type HostSet struct {
	Hosts []Host
	// UseHostname hashes Host.Hostname (consistent_hashing_lb_config.
	// use_hostname_for_hashing).
	UseHostname bool
	// LocalityWeights, when non-nil, is the weight of each locality and
	// makes normalization locality-weighted (locality_weighted_lb_config).
	LocalityWeights []uint32
}

// key is the string Envoy hashes for host i.
func (s *HostSet) key(i int) string {
	h := &s.Hosts[i]
	switch {
	case h.HashKey != "":
		return h.HashKey
	case s.UseHostname:
		return h.Hostname
	}
	return h.Address
}

// weighted is one host and its normalized weight.
type weighted struct {
	host   int
	weight float64
}

// normalize reproduces Envoy's normalizeWeights (thread_aware_lb_impl.cc):
// weights sum to 1 across the set (or across each locality scaled by its
// share of the locality weights), in the cluster's order. Hosts of a
// locality with weight 0 are left out.
func (s *HostSet) normalize() (ws []weighted, minW, maxW float64, err error) {
	minW, maxW = 1.0, 0.0
	for i := range s.Hosts {
		if s.key(i) == "" {
			return nil, 0, 0, fmt.Errorf("host %d (%q): empty hash key (use_hostname_for_hashing without a hostname?)", i, s.Hosts[i].Address)
		}
	}
	add := func(hosts []int, localityShare float64) error {
		var sum uint64
		for _, i := range hosts {
			sum += uint64(s.Hosts[i].weight())
			if sum > math.MaxUint32 {
				return fmt.Errorf("host weights sum over %d", uint64(math.MaxUint32))
			}
		}
		for _, i := range hosts {
			w := float64(s.Hosts[i].weight()) * localityShare / float64(sum)
			ws = append(ws, weighted{host: i, weight: w})
			minW = math.Min(minW, w)
			maxW = math.Max(maxW, w)
		}
		return nil
	}
	if s.LocalityWeights == nil {
		all := make([]int, len(s.Hosts))
		for i := range all {
			all[i] = i
		}
		err = add(all, 1.0)
		return ws, minW, maxW, err
	}
	perLocality := make([][]int, len(s.LocalityWeights))
	for i := range s.Hosts {
		l := s.Hosts[i].Locality
		if l < 0 || l >= len(perLocality) {
			return nil, 0, 0, fmt.Errorf("host %d (%q): locality %d out of range [0,%d)", i, s.Hosts[i].Address, l, len(perLocality))
		}
		perLocality[l] = append(perLocality[l], i)
	}
	var sum uint64
	for _, w := range s.LocalityWeights {
		sum += uint64(w)
	}
	if sum == 0 {
		return nil, minW, maxW, nil
	}
	for l, w := range s.LocalityWeights {
		if w == 0 || len(perLocality[l]) == 0 {
			continue
		}
		if err := add(perLocality[l], float64(w)/float64(sum)); err != nil {
			return nil, 0, 0, err
		}
	}
	return ws, minW, maxW, nil
}

func (h *Host) weight() uint32 {
	if h.Weight == 0 {
		return 1
	}
	return h.Weight
}

// Balancer picks a host index (into HostSet.Hosts) for a request hash, as
// Envoy's HashingLoadBalancer::chooseHost does; -1 when it has no hosts.
type Balancer interface {
	Pick(hash uint64) int
	// PickAttempt is Pick for the attempt-th host selection retry (when a
	// retry host predicate rejected the previous pick).
	PickAttempt(hash uint64, attempt uint32) int
}
