package config

import (
	"strings"
	"testing"
	"time"
)

// TestLoadErrors: every bad config is refused at load with the field path,
// the bad value and what is allowed.
func TestLoadErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"}},{"limit":{"requests":1,"unit":"Sec"}}]}}}`,
			`rateLimit.local.rules[1].limit.unit: unknown unit "Sec": allowed Second, Minute, Hour, Day, Week, Month, Year`},
		{`{"rateLimits":{}}`, `rateLimits: unknown field "rateLimits": allowed`},
		{`{"RateLimit":{}}`, `RateLimit: unknown field "RateLimit"`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second","burst":3}}]}}}`, `rateLimit.local.rules[0].limit.burst: unknown field "burst": allowed requests, unit`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":"ten","unit":"Second"}}]}}}`, `rateLimit.local.rules[0].limit.requests: want a number, got a string`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"}},{"limit":{"requests":1.5,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[1].limit.requests: 1.5 is not an integer from 0 to 4294967295`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"},"cost":{"request":{"from":"Number","number":-2}}}]}}}`,
			`rateLimit.local.rules[0].cost.request.number: -2 is not an integer from 0 to 18446744073709551615`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"},"shared":"yes"}]}}}`,
			`rateLimit.local.rules[0].shared: want true or false, got a string`},
		{`{"retry":{"numRetries":3000000000}}`, `retry.numRetries: 3000000000 is not an integer from -2147483648 to 2147483647`},
		{`{"faultInjection":{"abort":{"httpStatus":500,"percentage":"5"}}}`, `faultInjection.abort.percentage: want a number, got a string`},
		{`{"requestBuffer":{"limit":4096}}`, `requestBuffer.limit: want a string, got a number`},
		{`{"rateLimit":{"type":"Global"}}`, `rateLimit.type: "Global" is enforced by Envoy's ratelimit filter`},
		{`{"rateLimit":{"local":{"rules":[]}}}`, `rateLimit.type: required: allowed Local`},
		{`{"rateLimit":{"type":"Local"}}`, `rateLimit.local.rules: at least one rule`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x","type":"Prefix","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].type: unknown type "Prefix": allowed Exact, RegularExpression, Distinct`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x","type":"RegularExpression","value":"a("}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].value: invalid regular expression "a("`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x","type":"Distinct","invert":true}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`headers[0].invert: cannot be true for type Distinct`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`headers[0].value: required for type Exact`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"value":"10.0.0.300/8"}}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].sourceCIDR.value: invalid CIDR "10.0.0.300/8"`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"methods":[{"value":"get"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`clientSelectors[0].methods[0].value: unknown method "get": allowed GET`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"path":{"value":"api"}}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`clientSelectors[0].path.value: "api" must start with /`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`clientSelectors[0]: empty selector`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"},"cost":{"request":{"from":"Metadata"}}}]}}}`,
			`rateLimit.local.rules[0].cost.request.from: "Metadata" is not supported by the filter: allowed Number`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"}},{"limit":{"requests":2,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[1]: a second rule without clientSelectors (rules[0] is one)`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"},"shadowMode":true}]}}}`,
			`rateLimit.local.rules[0].shadowMode: not allowed on the rule without clientSelectors`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":10,"unit":"Hour"}},{"clientSelectors":[{"methods":[{"value":"GET"}]}],"limit":{"requests":1,"unit":"Minute"}}]}}}`,
			`rateLimit.local.rules[1].limit.unit: Minute is not a multiple of the default rule's unit (rules[0]: Hour)`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"path":{"value":"/a"}},{"path":{"value":"/b"}}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[1].path: a second path match in one rule: allowed one per rule`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"queryParams":[{"name":"q"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].queryParams[0].value: required (not empty) for type Exact`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"queryParams":[{"name":"q","type":"Distinct","invert":true}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`queryParams[0].invert: cannot be true for type Distinct`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"queryParams":[{"name":"q","type":"Prefix","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`queryParams[0].type: unknown type "Prefix": allowed Exact, RegularExpression, Distinct`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"queryParams":[{"value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`queryParams[0].name: required`},
		{`{"faultInjection":{}}`, `faultInjection: set delay, abort or both`},
		{`{"faultInjection":{"delay":{"fixedDelay":"1.5s"}}}`, `faultInjection.delay.fixedDelay: invalid duration "1.5s"`},
		{`{"faultInjection":{"delay":{"fixedDelay":"1s","percentage":101}}}`, `faultInjection.delay.percentage: 101 out of range: allowed 0 to 100`},
		{`{"faultInjection":{"abort":{"httpStatus":600}}}`, `faultInjection.abort.httpStatus: 600 out of range: allowed 200 to 599`},
		{`{"faultInjection":{"abort":{"grpcStatus":17}}}`, `faultInjection.abort.grpcStatus: 17 out of range: allowed 0 to 16`},
		{`{"faultInjection":{"abort":{"grpcStatus":1,"httpStatus":500}}}`, `faultInjection.abort: set one of httpStatus and grpcStatus, not both`},
		{`{"responseOverride":[{"match":{},"response":{}}]}`, `responseOverride[0].match: at least one of statusCodes or responseHeaders`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"source":"Upstream","response":{}}]}`, `responseOverride[0].source: unknown source "Upstream": allowed All, Local, Backend`},
		{`{"responseOverride":[{"match":{"responseHeaders":[{"name":"x","value":{"type":"RegularExpression","value":"(("}}]},"response":{}}]}`, `responseOverride[0].match.responseHeaders[0].value.value: invalid regular expression "(("`},
		{`{"responseOverride":[{"match":{"responseHeaders":[{"name":"x y","value":{"value":"v"}}]},"response":{}}]}`, `responseOverride[0].match.responseHeaders[0].name: "x y" is not a header name`},
		{`{"responseOverride":[{"match":{"responseHeaders":[{"name":"x","value":{"type":"Contains","value":"v"}}]},"response":{}}]}`, `responseOverride[0].match.responseHeaders[0].value.type: unknown type "Contains"`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"header":{"set":[{"name":"x-a","value":"%UPSTREAM_HOST%"}]}}}]}`, `responseOverride[0].response.header.set[0].value: "%UPSTREAM_HOST%": %UPSTREAM_HOST%: not supported`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"header":{"add":[{"name":":status","value":"200"}]}}}]}`, `responseOverride[0].response.header.add[0].name: ":status" is not a header name a response may set`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"type":"Range","range":{"start":500,"end":400}}]},"response":{}}]}`, `responseOverride[0].match.statusCodes[0].range: end 400 is below start 500`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":99}]},"response":{}}]}`, `responseOverride[0].match.statusCodes[0].value: status 99 out of range: allowed 100 to 599`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"body":{"type":"ValueRef"}}}]}`, `responseOverride[0].response.body.type: ValueRef must be resolved`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"body":{"valueRef":{"name":"x"}}}}]}`, `responseOverride[0].response.body.valueRef: unknown field "valueRef"`},
		{`{"requestBuffer":{"limit":"10MB"}}`, `requestBuffer.limit: invalid quantity "10MB": unknown suffix "MB"`},
		{`{"requestBuffer":{"limit":"0"}}`, `requestBuffer.limit: "0": must be above zero`},
		{`{"retry":{"retryOn":{"triggers":["5xx","bogus"]}}}`, `retry.retryOn.triggers[1]: unknown trigger "bogus": allowed 5xx`},
		{`{"retry":{"numRetries":-1}}`, `retry.numRetries: -1 is negative`},
		{`{"retry":{"perRetry":{"timeout":"1x"}}}`, `retry.perRetry.timeout: invalid duration "1x"`},
		{`{"retry":{"perRetry":{"backOff":{"baseInterval":"2s","maxInterval":"1s"}}}}`, `retry.perRetry.backOff.maxInterval: "1s" is below baseInterval "2s"`},
		{`{"timeout":{"http":{"requestTimeout":"10"}}}`, `timeout.http.requestTimeout: invalid duration "10"`},
		{`{"timeout":{"http":{"connectionIdleTimeout":"10s"}}}`, `timeout.http.connectionIdleTimeout: unknown field`},
		{`{"retryBudget":{"percent":20}}`, `retryBudget: the filter no longer keeps a retry budget: set circuitBreaker.retryBudget`},
		{`{"rateLimit":[]}`, `rateLimit: want an object, got a list`},
		{`{"responseOverride":{}}`, `responseOverride: want a list, got an object`},
		{`[1]`, `config: want an object, got a list`},
		{`{"retry":{}} {}`, `more than one value`},
		{`{"retry":`, `invalid JSON`},
		// Missing or null required fields (Envoy Gateway's schema requires
		// them); a missing limit.requests used to be 0: every request a 429.
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"unit":"Second"}}]}}}`, `rateLimit.local.rules[0].limit.requests: required`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":null,"unit":"Second"}}]}}}`, `rateLimit.local.rules[0].limit.requests: required, got null`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5}}]}}}`, `rateLimit.local.rules[0].limit.unit: required`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"methods":[{"value":"GET"}]}]}]}}}`, `rateLimit.local.rules[0].limit: required`},
		{`{"rateLimit":{"type":"Local","local":{}}}`, `rateLimit.local.rules: required`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"type":"Distinct"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].name: required`},
		{`{"faultInjection":{"delay":{"percentage":50}}}`, `faultInjection.delay.fixedDelay: required`},
		{`{"requestBuffer":{}}`, `requestBuffer.limit: required`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"type":"Range","range":{"start":500}}]},"response":{}}]}`, `responseOverride[0].match.statusCodes[0].range.end: required`},
		{`{"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"header":{"set":[{"name":"x-a"}]}}}]}`, `responseOverride[0].response.header.set[0].value: required`},
		// null on an optional field is refused, not taken as the default.
		{`{"retry":{"numRetries":null}}`, `retry.numRetries: null is not allowed: omit the field for its default`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Second"},"shadowMode":null}]}}}`, `rateLimit.local.rules[0].shadowMode: null is not allowed`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x","value":"a","invert":null}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].invert: null is not allowed`},
		{`{"timeout":null}`, `timeout: null is not allowed`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[null]}}}`, `rateLimit.local.rules[0]: null is not allowed in a list`},
		{`null`, `config: null: want an object`},
		// Header names no request can carry: a match on them never holds.
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x user","type":"Distinct"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].name: "x user" is not a header name: allowed letters, digits and !#$%&'*+-.^_` + "`" + `|~ (an RFC 9110 token)`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x\u0000id","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`rateLimit.local.rules[0].clientSelectors[0].headers[0].name: "x\x00id" is not a header name`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user:","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`headers[0].name: "x-user:" is not a header name`},
		{`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-ü","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`,
			`headers[0].name: "x-ü" is not a header name`},
		{`{"debug":{"panicHeader":"x panic"}}`, `debug.panicHeader: "x panic" is not a header name`},
	}
	for _, tc := range cases {
		_, err := Load([]byte(tc.in))
		if err == nil {
			t.Errorf("Load(%s): no error, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s):\n  error %q\n  want  %q", tc.in, err, tc.want)
		}
	}
}

func TestLoadFullConfig(t *testing.T) {
	c, err := Load([]byte(`{
	  "rateLimit":{"type":"Local","local":{"rules":[
	    {"clientSelectors":[{"headers":[{"name":"X-User","type":"Distinct"}],"sourceCIDR":{"value":"10.0.0.0/8"}}],"limit":{"requests":100,"unit":"Minute"},"shared":true},
	    {"limit":{"requests":5,"unit":"Second"},"cost":{"request":{"from":"Number","number":2}}}]}},
	  "faultInjection":{"delay":{"fixedDelay":"2s","percentage":12.5},"abort":{"grpcStatus":14}},
	  "responseOverride":[{"match":{"statusCodes":[{"value":404},{"type":"Range","range":{"start":500,"end":599}}]},"response":{"contentType":"text/plain","body":{"inline":"oops"},"statusCode":503}}],
	  "requestBuffer":{"limit":"10Mi"},
	  "retry":{"numRetries":4,"retryOn":{"triggers":["5xx","unavailable"]},"perRetry":{"timeout":"1s500ms"},"allowNonIdempotent":false},
	  "timeout":{"http":{"requestTimeout":"30s"}},
	  "debug":{"panicHeader":"X-Panic"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r0 := c.RateLimit.Rules[0]
	if !r0.Shared || !r0.Distinct || r0.Unit != time.Minute || r0.LimitHeader != "100" || r0.Match.Headers[0].Name != "x-user" ||
		r0.Match.Source.Prefix.String() != "10.0.0.0/8" || r0.RequestCost != 1 || len(c.RateLimit.Rules) != 1 {
		t.Fatalf("descriptor rule 0: %+v", r0)
	}
	if d := c.RateLimit.Default; d == nil || d.Index != 1 || d.Distinct || d.RequestCost != 2 || d.Unit != time.Second {
		t.Fatalf("default rule: %+v", d)
	}
	if f := c.Fault; f.Delay != 2*time.Second || f.DelayThreshold != Always/8 || f.AbortGRPC != 14 || f.AbortThreshold != Always {
		t.Fatalf("fault: %+v", f)
	}
	if o := c.Overrides[0]; !o.Matches(404) || !o.Matches(550) || o.Matches(405) || o.Status != 503 || o.Body.Literal != "oops" {
		t.Fatalf("override: %+v", o)
	}
	if c.Buffer.Limit != 10<<20 {
		t.Fatalf("buffer %d", c.Buffer.Limit)
	}
	if r := c.Retry; r.NumRetries != 4 || r.AllowNonIdempotent {
		t.Fatalf("retry: %+v", r)
	}
	if c.Timeout.RequestTimeoutMS != "30000" || c.Debug.PanicHeader != "x-panic" {
		t.Fatalf("timeout/debug: %+v %+v", c.Timeout, c.Debug)
	}
}

func TestEmptyConfigs(t *testing.T) {
	for _, in := range []string{``, ` `, `{}`} {
		c, err := Load([]byte(in))
		if err != nil || c.RateLimit != nil || c.Fault != nil || c.Buffer != nil || c.Retry != nil {
			t.Errorf("Load(%q) = %+v, %v", in, c, err)
		}
	}
}

// Header names match case-insensitively (Envoy's header maps are lower
// case), and a pseudo-header such as :authority is a name a rule can match.
func TestHeaderNamesLowered(t *testing.T) {
	c, err := Load([]byte(`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"X-User_ID","type":"Distinct"},{"name":":authority","value":"a"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.RateLimit.Rules[0].Match.Headers; h[0].Name != "x-user_id" || h[1].Name != ":authority" {
		t.Fatalf("header plans %+v", h)
	}
}

func TestMergeCompiled(t *testing.T) {
	parent, _ := Load([]byte(`{"retry":{"numRetries":1},"timeout":{"http":{"requestTimeout":"5s"}},"requestBuffer":{"limit":"1k"}}`))
	child, _ := Load([]byte(`{"retry":{"numRetries":3},"faultInjection":{"abort":{"httpStatus":500}}}`))
	m := Merge(parent, child)
	if m.Retry.NumRetries != 3 || m.Timeout.RequestTimeoutMS != "5000" || m.Buffer.Limit != 1000 || m.Fault == nil {
		t.Fatalf("merged %+v", m)
	}
	if *m.Source.Retry.NumRetries != 3 || m.Source.RequestBuffer.Limit != "1k" || m.Source.FaultInjection == nil {
		t.Fatalf("merged source %+v", m.Source)
	}
	if parent.Retry.NumRetries != 1 || *parent.Source.Retry.NumRetries != 1 {
		t.Fatal("Merge modified the parent")
	}
}
