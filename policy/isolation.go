package policy

import (
	"fmt"
	"strings"
)

// Fault isolation as Envoy Gateway does it: a BackendTrafficPolicy that
// fails translation is reported Invalid in its status and the routes it
// governs answer 500 (Rule.PolicyError); every other policy and route is
// judged and rendered as usual. So an error about a policy never stops the
// rest of the input from being rendered faithfully, while an error about a
// Gateway, route or backend would change what the rest means.

// PerPolicy splits l into the errors about BackendTrafficPolicies, which
// the Model already isolates (the policy is Invalid, or its missing target
// is not attached to, as in Envoy Gateway), and the rest.
func (l ErrorList) PerPolicy() (policies, rest ErrorList) {
	for _, e := range l {
		if strings.HasPrefix(e.Resource, "BackendTrafficPolicy/") {
			policies = append(policies, e)
		} else {
			rest = append(rest, e)
		}
	}
	return policies, rest
}

// FailedRules lists, per rule that answers 500 because its policy failed
// translation, where it is ("HTTPRoute ns/name rule I on gw/listener") and
// why, for the CLI to say what --keep-going rendered.
func (m *Model) FailedRules() []string {
	var out []string
	for _, g := range m.Gateways {
		for _, l := range g.Listeners {
			for _, rt := range l.Routes {
				for _, r := range rt.Rules {
					if r.PolicyError == "" {
						continue
					}
					out = append(out, fmt.Sprintf("%s %s rule %d on %s/%s: BackendTrafficPolicy %s is Invalid (%s), the rule answers 500",
						rt.Kind, rt.Name, r.Index, g.Name, l.Name, r.PolicySources[0], r.PolicyError))
				}
			}
		}
	}
	return out
}
