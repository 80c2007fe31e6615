package e2e

import (
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A bad btp config is refused by Envoy at load, and Envoy's log carries the
// filter's error naming the field path and the bad value.
func TestBadConfigRefusedAtLoad(t *testing.T) {
	cases := []struct {
		name, filterConfig, routeConfig string
		want                            []string // in Envoy's log
	}{
		{
			name:         "filter-level unit",
			filterConfig: `{"rateLimit": {"type": "Local", "local": {"rules": [{"limit": {"requests": 1, "unit": "Sec"}}]}}}`,
			routeConfig:  `{}`,
			want:         []string{"Failed to load configuration: btp filter config: ", "rateLimit.local.rules[0].limit.unit", `"Sec"`},
		},
		{
			name:         "per-route unknown field",
			filterConfig: `{}`,
			routeConfig:  `{"faultInjection": {"abort": {"httpStatus": 503}}, "retries": {}}`,
			want:         []string{"btp per-route config: retries: unknown field", "allowed"},
		},
		{
			name:         "per-route limit.requests missing",
			filterConfig: `{}`,
			routeConfig:  `{"rateLimit": {"type": "Local", "local": {"rules": [{"limit": {"unit": "Minute"}}]}}}`,
			want:         []string{"btp per-route config: rateLimit.local.rules[0].limit.requests: required"},
		},
		{
			name:         "per-route limit.requests null",
			filterConfig: `{}`,
			routeConfig:  `{"rateLimit": {"type": "Local", "local": {"rules": [{"limit": {"requests": null, "unit": "Minute"}}]}}}`,
			want:         []string{"btp per-route config: rateLimit.local.rules[0].limit.requests: required, got null"},
		},
		{
			name:         "per-route header name with a space",
			filterConfig: `{}`,
			routeConfig:  `{"rateLimit": {"type": "Local", "local": {"rules": [{"clientSelectors": [{"headers": [{"name": "x user", "type": "Distinct"}]}], "limit": {"requests": 1, "unit": "Minute"}}]}}}`,
			want:         []string{`btp per-route config: rateLimit.local.rules[0].clientSelectors[0].headers[0].name: "x user" is not a header name`},
		},
		{
			name:         "filter-level null",
			filterConfig: `{"retry": {"numRetries": null}}`,
			routeConfig:  `{}`,
			want:         []string{"btp filter config: retry.numRetries: null is not allowed"},
		},
		{
			name:         "per-route buffer limit",
			filterConfig: `{}`,
			routeConfig:  `{"requestBuffer": {"limit": "ten megs"}}`,
			want:         []string{"btp per-route config: requestBuffer.limit", "ten megs"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := harness.NewVars(t, nil)
			v.Values = map[string]any{"Case": c.name, "FilterConfig": c.filterConfig, "RouteConfig": c.routeConfig}
			log := harness.RunEnvoyExpectExit(t, harness.Execute(t, "testdata/badconfig.bootstrap.yaml", v))
			c.want = append(c.want, "Failed to initialize") // Envoy's own refusal
			for _, w := range c.want {
				if !strings.Contains(log, w) {
					t.Errorf("envoy log lacks %q; log:\n%s", w, log)
				}
			}
		})
	}
}
