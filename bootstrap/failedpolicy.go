package bootstrap

import (
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// failedPolicyRoute renders a rule whose BackendTrafficPolicy failed
// translation (policy.Rule.PolicyError) as Envoy Gateway does: the route
// keeps its name and matches but answers every request with a bare 500
// direct response (applyTrafficFeatureToRoute sets DirectResponse
// StatusCode 500 in internal/gatewayapi/backendtrafficpolicy.go; the xDS
// translator's buildXdsDirectResponseAction renders it without a body). No
// cluster and no per-route filter config: nothing of the invalid policy, nor
// of one it would have shadowed, applies, and no request reaches a backend.
func failedPolicyRoute(c *ruleCtx) {
	c.route.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}}
}

// isolate applies Options.KeepGoing to the errors a rule's policy raised
// since errors[before]: when every one is about a BackendTrafficPolicy (a
// field envoy-btp cannot render, a value Envoy would refuse), the policy
// fails translation here as in Envoy Gateway, so those errors move to
// Rendered.Isolated, the clusters the rule added since clusters was taken
// are dropped, and the caller renders the rule as a 500. It reports
// whether it did.
func (r *renderer) isolate(before int, clusters map[string]bool) bool {
	if !r.opts.KeepGoing || len(r.errs) == before {
		return false
	}
	for _, e := range r.errs[before:] {
		if !strings.HasPrefix(e.Resource, "BackendTrafficPolicy/") {
			return false
		}
	}
	r.isolated = append(r.isolated, r.errs[before:]...)
	r.errs = r.errs[:before]
	if clusters != nil {
		for n := range r.clusters {
			if !clusters[n] {
				delete(r.clusters, n)
			}
		}
	}
	return true
}

func (r *renderer) clusterNames() map[string]bool {
	out := make(map[string]bool, len(r.clusters))
	for n := range r.clusters {
		out[n] = true
	}
	return out
}
