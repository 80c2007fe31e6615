package policy

import (
	"fmt"
	"strings"
	"time"
)

// celRule is one x-kubernetes-validations rule of Envoy Gateway's
// BackendTrafficPolicy CRD (v1.9.1), written in Go: the API server would
// evaluate it with CEL before Envoy Gateway saw the resource. path is the
// field the rule sits on ("[]" walks every list item); msg is the CRD's
// message.
type celRule struct {
	path string
	msg  string
	ok   func(self any) bool
}

var routeKinds = []string{"HTTPRoute", "GRPCRoute", "UDPRoute", "TCPRoute", "TLSRoute"}

var btpRules = []celRule{
	{"spec", "either targetRef or targetRefs must be used", func(s any) bool {
		return (has(s, "targetRef") && !has(s, "targetRefs")) || (!has(s, "targetRef") && has(s, "targetRefs")) || size(s, "targetSelectors") > 0
	}},
	{"spec", "this policy can only have a targetRef.group of gateway.networking.k8s.io", func(s any) bool {
		return !has(s, "targetRef") || str(s, "targetRef.group") == "gateway.networking.k8s.io"
	}},
	{"spec", "this policy can only have a targetRef.kind of Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute/UDPRoute/TLSRoute", func(s any) bool {
		return !has(s, "targetRef") || in(str(s, "targetRef.kind"), append([]string{"Gateway", "ListenerSet"}, routeKinds...)...)
	}},
	{"spec", "this policy can only have a targetRefs[*].group of gateway.networking.k8s.io", func(s any) bool {
		return all(s, "targetRefs", func(r any) bool { return str(r, "group") == "gateway.networking.k8s.io" })
	}},
	{"spec", "this policy can only have a targetRefs[*].kind of Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute/UDPRoute/TLSRoute", func(s any) bool {
		return all(s, "targetRefs", func(r any) bool {
			return in(str(r, "kind"), append([]string{"Gateway", "ListenerSet"}, routeKinds...)...)
		})
	}},
	{"spec", "mergeType can only be used with xRoute targets", func(s any) bool {
		isRoute := func(r any) bool { return in(str(r, "kind"), routeKinds...) }
		return !has(s, "mergeType") || ((!has(s, "targetRef") || isRoute(get(s, "targetRef"))) &&
			all(s, "targetRefs", isRoute) && all(s, "targetSelectors", isRoute))
	}},
	{"spec", "either compression or compressor can be set, not both", func(s any) bool { return !has(s, "compression") || !has(s, "compressor") }},
	{"spec", "requestBuffer cannot be used together with httpUpgrade", func(s any) bool {
		return !has(s, "requestBuffer") || size(s, "httpUpgrade") == 0
	}},
	{"spec", "predictivePercent in preconnect policy only works with RoundRobin or Random load balancers", func(s any) bool {
		return !has(s, "connection.preconnect.predictivePercent") || in(str(s, "loadBalancer.type"), "Random", "RoundRobin")
	}},
	{"spec.circuitBreaker.retryBudget.percent", "numerator must be less than or equal to denominator", fractionOK},
	{"spec.faultInjection", "Delay and abort faults are set at least one.", func(s any) bool { return has(s, "delay") || has(s, "abort") }},
	{"spec.faultInjection.abort", "httpStatus and grpcStatus cannot be simultaneously defined.", func(s any) bool { return !(has(s, "httpStatus") && has(s, "grpcStatus")) }},
	{"spec.faultInjection.abort", "httpStatus and grpcStatus are set at least one.", func(s any) bool { return has(s, "httpStatus") || has(s, "grpcStatus") }},
	{"spec.healthCheck.active", "If Health Checker type is HTTP, http field needs to be set.", typeNeeds("HTTP", "http")},
	{"spec.healthCheck.active", "If Health Checker type is TCP, tcp field needs to be set.", typeNeeds("TCP", "tcp")},
	{"spec.healthCheck.active", "The grpc field can only be set if the Health Checker type is GRPC.", func(s any) bool { return !has(s, "grpc") || str(s, "type") == "GRPC" }},
	{"spec.healthCheck.active.healthCheckLog.matches", "a failure type and a success type must both be specified together", func(s any) bool {
		l, _ := s.([]any)
		var failure, success bool
		for _, e := range l {
			failure = failure || e == "Failure" || e == "FailureSeriesStart"
			success = success || e == "Success" || e == "HealthyTransition"
		}
		return failure == success
	}},
	{"spec.healthCheck.active.healthCheckLog.sinks[]", "If ProxyHealthCheckLogSink type is File, file field needs to be set.", typeNeeds("File", "file")},
	{"spec.healthCheck.active.http", "The requestBody field can only be set when method is POST or PUT.", func(s any) bool {
		return !has(s, "requestBody") || in(strings.ToUpper(str(s, "method")), "POST", "PUT")
	}},
	{"spec.healthCheck.active.http.expectedResponse", "If payload type is Text, text field needs to be set.", typeNeeds("Text", "text")},
	{"spec.healthCheck.active.http.expectedResponse", "If payload type is Binary, binary field needs to be set.", typeNeeds("Binary", "binary")},
	{"spec.healthCheck.active.http.requestBody", "If payload type is Text, text field needs to be set.", typeNeeds("Text", "text")},
	{"spec.healthCheck.active.http.requestBody", "If payload type is Binary, binary field needs to be set.", typeNeeds("Binary", "binary")},
	{"spec.healthCheck.active.tcp.receive", "If payload type is Text, text field needs to be set.", typeNeeds("Text", "text")},
	{"spec.healthCheck.active.tcp.receive", "If payload type is Binary, binary field needs to be set.", typeNeeds("Binary", "binary")},
	{"spec.healthCheck.active.tcp.send", "If payload type is Text, text field needs to be set.", typeNeeds("Text", "text")},
	{"spec.healthCheck.active.tcp.send", "If payload type is Binary, binary field needs to be set.", typeNeeds("Binary", "binary")},
	{"spec.http2.connectionKeepalive", "timeout must be less than interval", func(s any) bool {
		return !has(s, "timeout") || !has(s, "interval") || duration(str(s, "timeout")) < duration(str(s, "interval"))
	}},
	{"spec.httpUpgrade[]", "The connect configuration is only allowed when the type is CONNECT.", func(s any) bool { return !has(s, "connect") || str(s, "type") == "CONNECT" }},
	{"spec.loadBalancer", "If LoadBalancer type is consistentHash, consistentHash field needs to be set.", typeNeeds("ConsistentHash", "consistentHash")},
	{"spec.loadBalancer", "Currently SlowStart is only supported for RoundRobin, LeastRequest, and BackendUtilization load balancers.", func(s any) bool {
		return !in(str(s, "type"), "Random", "ConsistentHash", "DynamicModule") || !has(s, "slowStart")
	}},
	{"spec.loadBalancer", "PreferLocal zone-aware routing is not supported for ConsistentHash load balancers. Use weightedZones instead.", func(s any) bool {
		return str(s, "type") != "ConsistentHash" || !has(s, "zoneAware.preferLocal")
	}},
	{"spec.loadBalancer", "ZoneAware PreferLocal and WeightedZones cannot be specified together.", func(s any) bool {
		return !(has(s, "zoneAware.preferLocal") && has(s, "zoneAware.weightedZones"))
	}},
	{"spec.loadBalancer.consistentHash", "If consistent hash type is header, the header field must be set.", typeNeeds("Header", "header")},
	{"spec.loadBalancer.consistentHash", "If consistent hash type is headers, the headers field must be set.", typeNeeds("Headers", "headers")},
	{"spec.loadBalancer.consistentHash", "If consistent hash type is cookie, the cookie field must be set.", typeNeeds("Cookie", "cookie")},
	{"spec.loadBalancer.consistentHash", "If consistent hash type is queryParams, the queryParams field must be set.", typeNeeds("QueryParams", "queryParams")},
	{"spec.mergeType", "Replace is not a valid MergeType for BackendTrafficPolicySpec", func(s any) bool { return s != "Replace" }},
	{"spec.rateLimit.global.rules[].clientSelectors[]", "at least one of headers, methods, path, sourceCIDR or queryParams must be specified", selectorSet},
	{"spec.rateLimit.global.rules[].cost.request", "only one of number or metadata can be specified", numberOrMetadata},
	{"spec.rateLimit.global.rules[].cost.response", "only one of number or metadata can be specified", numberOrMetadata},
	{"spec.rateLimit.local.rules", "response cost is not supported for Local Rate Limits", func(s any) bool {
		return allItems(s, func(r any) bool { return !has(r, "cost.response") })
	}},
	{"spec.rateLimit.local.rules", "limit fromMetadata is not supported for Local Rate Limits", func(s any) bool {
		return allItems(s, func(r any) bool { return !has(r, "limit.fromMetadata") })
	}},
	{"spec.rateLimit.local.rules[].clientSelectors[]", "at least one of headers, methods, path, sourceCIDR or queryParams must be specified", selectorSet},
	{"spec.rateLimit.local.rules[].cost.request", "only one of number or metadata can be specified", numberOrMetadata},
	{"spec.responseOverride[]", "exactly one of response or redirect must be specified", func(s any) bool { return has(s, "response") != has(s, "redirect") }},
	{"spec.responseOverride[].match", "at least one of statusCodes or responseHeaders must be specified", func(s any) bool {
		return has(s, "statusCodes") || has(s, "responseHeaders")
	}},
	{"spec.responseOverride[].match.statusCodes[]", "value must be set for type Value", func(s any) bool {
		return !(str(s, "type") == "" || str(s, "type") == "Value") || has(s, "value")
	}},
	{"spec.responseOverride[].match.statusCodes[]", "range must be set for type Range", func(s any) bool { return str(s, "type") != "Range" || has(s, "range") }},
	{"spec.responseOverride[].match.statusCodes[].range", "end must be greater than start", func(s any) bool { return num(s, "end") > num(s, "start") }},
	{"spec.responseOverride[].redirect.path", "only ReplaceFullPath is supported for path.type", func(s any) bool { return str(s, "type") == "ReplaceFullPath" }},
	{"spec.responseOverride[].redirect.path", "replaceFullPath must be specified when type is set to 'ReplaceFullPath'", func(s any) bool {
		return str(s, "type") != "ReplaceFullPath" || has(s, "replaceFullPath")
	}},
	{"spec.responseOverride[].redirect.path", "type must be 'ReplaceFullPath' when replaceFullPath is set", func(s any) bool {
		return !has(s, "replaceFullPath") || str(s, "type") == "ReplaceFullPath"
	}},
	{"spec.responseOverride[].response.body", "inline must be set for type Inline", func(s any) bool {
		return !(str(s, "type") == "" || str(s, "type") == "Inline") || has(s, "inline")
	}},
	{"spec.responseOverride[].response.body", "valueRef must be set for type ValueRef", func(s any) bool { return str(s, "type") != "ValueRef" || has(s, "valueRef") }},
	{"spec.responseOverride[].response.body", "only ConfigMap is supported for ValueRef", func(s any) bool { return !has(s, "valueRef") || str(s, "valueRef.kind") == "ConfigMap" }},
	{"spec.responseOverride[].response.header", "Remove is not supported for header in CustomResponse", func(s any) bool { return size(s, "remove") == 0 }},
	{"spec.targetSelectors[]", "group must be gateway.networking.k8s.io", func(s any) bool { return !has(s, "group") || str(s, "group") == "gateway.networking.k8s.io" }},
	{"spec.targetSelectors[].namespaces", "selector must be specified when from is Selector", func(s any) bool { return str(s, "from") != "Selector" || has(s, "selector") }},
	{"spec.telemetry.tracing.clientSamplingFraction", "numerator must be less than or equal to denominator", fractionOK},
	{"spec.telemetry.tracing.overallSamplingFraction", "numerator must be less than or equal to denominator", fractionOK},
	{"spec.telemetry.tracing.samplingFraction", "numerator must be less than or equal to denominator", fractionOK},
}

// checkRules runs rules against obj (decoded JSON) and reports each
// violation on the concrete field path (with list indexes).
func checkRules(rules []celRule, obj any, e errs) {
	for _, r := range rules {
		walk(obj, strings.Split(r.path, "."), "", func(path string, self any) {
			if !r.ok(self) {
				e.add(path, "%s", r.msg)
			}
		})
	}
}

// walk calls fn for every value at the dotted path below v; a segment
// ending in "[]" fans out over that list.
func walk(v any, segs []string, at string, fn func(path string, self any)) {
	if len(segs) == 0 {
		fn(at, v)
		return
	}
	seg, list := strings.CutSuffix(segs[0], "[]")
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	next, ok := m[seg]
	if !ok || next == nil {
		return
	}
	p := seg
	if at != "" {
		p = at + "." + seg
	}
	if !list {
		walk(next, segs[1:], p, fn)
		return
	}
	items, _ := next.([]any)
	for i, item := range items {
		walk(item, segs[1:], fmt.Sprintf("%s[%d]", p, i), fn)
	}
}

func get(v any, path string) any {
	if path == "" {
		return v
	}
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[seg]
	}
	return v
}

func has(v any, path string) bool { return get(v, path) != nil }

func str(v any, path string) string {
	s, _ := get(v, path).(string)
	return s
}

func num(v any, path string) float64 {
	switch n := get(v, path).(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

func size(v any, path string) int {
	switch x := get(v, path).(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	return 0
}

func in(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// all is CEL's `!has(self.path) || self.path.all(x, fn(x))`.
func all(v any, path string, fn func(any) bool) bool { return allItems(get(v, path), fn) }

func allItems(list any, fn func(any) bool) bool {
	items, _ := list.([]any)
	for _, it := range items {
		if !fn(it) {
			return false
		}
	}
	return true
}

// typeNeeds is the CRD idiom `self.type == T ? has(self.f) : !has(self.f)`.
func typeNeeds(t, field string) func(any) bool {
	return func(s any) bool { return (str(s, "type") == t) == has(s, field) }
}

func fractionOK(s any) bool {
	den := 100.0 // the CRD default for denominator
	if has(s, "denominator") {
		den = num(s, "denominator")
	}
	return num(s, "numerator") <= den
}

func selectorSet(s any) bool {
	return has(s, "headers") || has(s, "methods") || has(s, "path") || has(s, "sourceCIDR") || has(s, "queryParams")
}

func numberOrMetadata(s any) bool { return !(has(s, "number") && has(s, "metadata")) }

// duration parses a Gateway API duration; malformed ones are reported by
// the schema's pattern, so here they only need to compare consistently.
func duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
