package policy

import (
	"strings"
	"testing"
)

func TestTranslationChecks(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		field      string // error: field path and message
		status     string // Invalid condition message
	}{
		{"maglev table size not prime", "  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 100}}\n",
			"spec.loadBalancer.consistentHash.tableSize: invalid TableSize value 100: allowed a prime number up to 5000011",
			"LoadBalancer: ConsistentHash: invalid TableSize value 100."},
		{"backoff max below base", "  retry: {perRetry: {backOff: {baseInterval: 2s, maxInterval: 1s}}}\n",
			"spec.retry.perRetry.backOff.maxInterval: maxInterval cannot be less than baseInterval",
			"Retry: maxInterval cannot be less than baseInterval."},
		{"backoff zero", "  retry: {perRetry: {backOff: {baseInterval: 0s}}}\n",
			"spec.retry.perRetry.backOff.baseInterval: baseInterval cannot be set to 0s", "Retry: baseInterval cannot be set to 0s."},
		{"local without config", "  rateLimit: {type: Local}\n",
			"spec.rateLimit.local: local configuration empty for rateLimit", "RateLimit: local configuration empty for rateLimit."},
		{"two default buckets", "  rateLimit: {type: Local, local: {rules: [{limit: {requests: 1, unit: Second}}, {limit: {requests: 2, unit: Second}}]}}\n",
			"spec.rateLimit.local.rules[1]: local rateLimit can not have more than one rule without clientSelectors", "more than one rule without clientSelectors"},
		{"unit not a multiple of the default", "  rateLimit: {type: Local, local: {rules: [{limit: {requests: 1, unit: Minute}}, {clientSelectors: [{methods: [{value: GET}]}], limit: {requests: 2, unit: Second}}]}}\n",
			"spec.rateLimit.local.rules[1].limit.unit: local rateLimit rule limit unit must be a multiple of the default limit unit", "must be a multiple of the default limit unit"},
		{"bad header regex", "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{headers: [{name: x, type: RegularExpression, value: '(' }]}], limit: {requests: 1, unit: Second}}]}}\n",
			"spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].value: regex \"(\" is invalid", "RateLimit: regex"},
		{"exact header without value", "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{headers: [{name: x}]}], limit: {requests: 1, unit: Second}}]}}\n",
			"spec.rateLimit.local.rules[0].clientSelectors[0].headers[0]: unable to translate rateLimit. Either the header.Type is not valid or the header is missing a value", "header is missing a value"},
		{"bad CIDR", "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{sourceCIDR: {value: 10.0.0.0/99}}], limit: {requests: 1, unit: Second}}]}}\n",
			"spec.rateLimit.local.rules[0].clientSelectors[0].sourceCIDR.value: unable to translate rateLimit: invalid CIDR address", "invalid CIDR"},
		{"distinct query param with value", "  rateLimit: {type: Local, local: {rules: [{clientSelectors: [{queryParams: [{name: q, type: Distinct, value: v}]}], limit: {requests: 1, unit: Second}}]}}\n",
			"queryParams[0].value: unable to translate rateLimit.Value is not applicable for distinct query parameter match type", "distinct query parameter"},
		{"request buffer too large", "  requestBuffer: {limit: 5Gi}\n",
			"spec.requestBuffer.limit: limit value 5Gi is out of range, must be between 0 and 4294967295", "RequestBuffer: limit value 5Gi is out of range"},
		// Limits and durations the CRD refuses too: the error keeps the
		// CRD's words, the status takes the translator's (Envoy Gateway's
		// backendtrafficpolicy-with-circuitbreakers-error and -timeout-error).
		{"negative circuit breaker limit", "  circuitBreaker: {maxPendingRequests: -1, maxParallelRetries: -2}\n",
			"spec.circuitBreaker.maxPendingRequests: invalid value -1: should be greater than or equal to 0",
			"CircuitBreaker: invalid MaxPendingRequests value -1."},
		{"malformed duration", "  timeout: {http: {streamIdleTimeout: 3kib}}\n",
			"spec.timeout.http.streamIdleTimeout: invalid value \"3kib\"", "Timeout: invalid StreamIdleTimeout value 3kib."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := load(t, gatewayYAML+btpHead+tc.spec)
			if strings.Contains(tc.spec, "maxParallelRetries: -2") {
				wantErrors(t, errs, tc.field, "spec.circuitBreaker.maxParallelRetries: invalid value -2")
			} else {
				wantErrors(t, errs, tc.field)
			}
			c := m.Policies[0].Status.Ancestors[0].Conditions[0]
			if c.Reason != "Invalid" || !strings.Contains(c.Message, tc.status) {
				t.Errorf("condition %+v, want Invalid containing %q", c, tc.status)
			}
		})
	}
}

func TestTranslationChecksPass(t *testing.T) {
	_, errs := load(t, gatewayYAML+btpHead+`  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 65537}}
  retry: {perRetry: {backOff: {baseInterval: 1s, maxInterval: 2s}}}
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: 10, unit: Second}
      - clientSelectors: [{headers: [{name: x, type: Distinct}], sourceCIDR: {value: 10.0.0.0/8}, queryParams: [{name: q, value: v}]}]
        limit: {requests: 2, unit: Minute}
  requestBuffer: {limit: 1Mi}
`)
	wantErrors(t, errs)
}
