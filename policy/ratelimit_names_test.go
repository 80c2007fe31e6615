package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestGlobalRuleNamesAfterMerge mirrors Envoy Gateway's
// backendtrafficpolicy-strategic-merge-global-ratelimit case: merged global
// rules keep their own policy's name and index (a shared rule's descriptor
// and domain), a strategic merge keeps the route's rules and then the
// gateway's, a JSON merge the route's list.
func TestGlobalRuleNamesAfterMerge(t *testing.T) {
	rule := func(v string) string {
		return fmt.Sprintf("      - clientSelectors: [{headers: [{name: x-user-id, type: Exact, value: %s}]}]\n        limit: {requests: 5, unit: Hour}\n        shared: true\n", v)
	}
	gw := btp("g", "2024-01-01T00:00:00Z", toGateway, "  rateLimit:\n    global:\n      rules:\n"+rule("two")+rule("three"))
	for _, tc := range []struct {
		name, route string
		want        string
	}{
		{"strategic", "  mergeType: StrategicMerge\n  rateLimit:\n    global:\n      rules:\n" + rule("one"),
			"default/r/rule/0=one default/g/rule/0=two default/g/rule/1=three"},
		{"json", "  mergeType: JSONMerge\n  rateLimit:\n    global:\n      rules:\n" + rule("one"),
			"default/r/rule/0=one"},
		{"route has none", "  mergeType: StrategicMerge\n  retry: {numRetries: 1}\n",
			"default/g/rule/0=two default/g/rule/1=three"},
		{"route has local only", "  mergeType: JSONMerge\n  rateLimit:\n    local:\n      rules: [{limit: {requests: 1, unit: Second}}]\n",
			"default/g/rule/0=two default/g/rule/1=three"},
		{"unmerged", "  rateLimit:\n    global:\n      rules:\n" + rule("one") + rule("four"),
			"default/r/rule/0=one default/r/rule/1=four"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, attachBase+gw+btp("r", "2024-01-02T00:00:00Z", toRoute, tc.route))
			wantErrors(t, errs)
			r := m.Gateways[0].Listeners[0].Routes[0].Rules[0]
			var got []string
			for i, g := range r.Policy.RateLimit.Global.Rules {
				name := "?"
				if i < len(r.GlobalRuleNames) {
					name = r.GlobalRuleNames[i]
				}
				got = append(got, name+"="+*g.ClientSelectors[0].Headers[0].Value)
			}
			if len(r.GlobalRuleNames) != len(r.Policy.RateLimit.Global.Rules) || strings.Join(got, " ") != tc.want {
				t.Errorf("rules %q (%d names): want %s", got, len(r.GlobalRuleNames), tc.want)
			}
		})
	}
}
