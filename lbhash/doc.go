// Package lbhash is a Go model of Envoy's consistent hashing, exact enough to
// say which endpoint a request lands on before Envoy sees it.
//
// It covers the three steps Envoy takes for a route whose cluster uses the
// Maglev or ring hash load balancer:
//
//  1. the request hash (Policies.Hash): each route hash_policy (source IP,
//     header, cookie, query parameter) hashed with xxHash64 and combined the
//     way Envoy's Http::HashPolicyImpl does (rotate the previous value left by
//     one, XOR the new one);
//  2. for weighted_clusters with use_hash_policy, the cluster the hash picks
//     (PickWeighted);
//  3. the host: a Maglev table (NewMaglev) or a ketama ring (NewRing) built
//     from the cluster's endpoints with Envoy's weight normalization.
//
// Route ties the three together. Lookups allocate nothing. A request that
// yields no hash (the header, cookie or parameter is absent and no cookie is
// generated) makes Envoy draw a random value; lbhash reports that as
// Unpredictable rather than guessing.
package lbhash
