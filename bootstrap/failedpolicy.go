package bootstrap

import (
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
