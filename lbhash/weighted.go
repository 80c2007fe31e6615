package lbhash

// PickWeighted returns the index of the weighted cluster Envoy picks for
// value (a request hash when use_hash_policy is set): value modulo the
// total weight falls into the cluster's interval [sum before, sum through).
// It returns -1 when the weights sum to 0.
func PickWeighted(weights []uint32, value uint64) int {
	var total uint64
	for _, w := range weights {
		total += uint64(w)
	}
	if total == 0 {
		return -1
	}
	selected := value % total
	var end uint64
	for i, w := range weights {
		end += uint64(w)
		if selected < end {
			return i
		}
	}
	return -1
}
