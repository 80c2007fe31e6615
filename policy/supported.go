package policy

import (
	"regexp"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// btpSpecFields is every BackendTrafficPolicy spec field envoy-btp handles
// (the spec in /work/shared/spec), plus compressor: Envoy Gateway's
// replacement for the deprecated compression (same type), which its status
// tells users to move to; and routingType (routingtype.go). Envoy Gateway's
// type has more; those are errors
// here rather than silently ignored.
var btpSpecFields = []string{
	"admissionControl", "bandwidthLimit", "circuitBreaker", "compression", "compressor", "connection", "dns", "faultInjection", "healthCheck",
	"http2", "httpUpgrade", "loadBalancer", "mergeType", "proxyProtocol", "rateLimit",
	"requestBuffer", "responseOverride", "retry", "routingType", "targetRef", "targetRefs", "targetSelectors",
	"tcpKeepalive", "telemetry", "timeout", "useClientProtocol",
}

func checkBTPScope(schema *spec.Schema, obj any, e errs) {
	specObj, _ := get(obj, "spec").(map[string]any)
	known := map[string]spec.Schema{}
	if schema != nil {
		known = schema.Properties["spec"].Properties
	}
	var extra []string
	for k := range specObj {
		// Fields unknown to Envoy Gateway too are the decoder's to report.
		if _, ok := known[k]; ok && !in(k, btpSpecFields...) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		e.add("spec."+k, "not supported by envoy-btp: allowed %s", strings.Join(btpSpecFields, ", "))
	}
	// Types Envoy Gateway knows but envoy-btp does not; unknown types are
	// already reported by the schema's enum.
	if t := str(obj, "spec.loadBalancer.type"); in(t, "DynamicModule") {
		e.add("spec.loadBalancer.type", "unsupported value %q: allowed %s", t, strings.Join(lbTypes, ", "))
	}
	for _, p := range []string{"spec.faultInjection.delay.percentage", "spec.faultInjection.abort.percentage"} {
		if has(obj, p) {
			if v := num(obj, p); v < 0 || v > 100 {
				e.add(p, "invalid value %v: a percentage, allowed 0..100", v)
			}
		}
	}
	// A rate-limit header match's name has no pattern in Envoy Gateway's
	// CRD (Gateway API's header names do), and Envoy accepts any name
	// without NUL, CR or LF: one with a space renders and never matches.
	for _, p := range []string{"spec.rateLimit.local.rules[].clientSelectors[].headers[].name", "spec.rateLimit.global.rules[].clientSelectors[].headers[].name"} {
		walk(obj, strings.Split(p, "."), "", func(path string, n any) {
			if s, ok := n.(string); ok && s != "" && !headerName.MatchString(s) {
				e.add(path, "%q is not a header name (no request can carry it): allowed letters, digits and !#$%%&'*+-.^_`|~ (an RFC 9110 token), or a pseudo-header such as :authority", s)
			}
		})
	}
	walk(obj, strings.Split("spec.responseOverride[].match.statusCodes[]", "."), "", func(path string, s any) {
		for _, f := range []string{"value", "range.start", "range.end"} {
			if has(s, f) {
				if v := num(s, f); v < 100 || v > 599 {
					e.add(path+"."+f, "invalid value %v: an HTTP status code, allowed 100..599", v)
				}
			}
		}
	})
	walk(obj, strings.Split("spec.responseOverride[].response.statusCode", "."), "", func(path string, s any) {
		if v := num(s, ""); v < 100 || v > 599 {
			e.add(path, "invalid value %v: an HTTP status code, allowed 100..599", v)
		}
	})
}

// headerName is an RFC 9110 token (Gateway API's HTTPHeaderName pattern),
// or a pseudo-header.
var headerName = regexp.MustCompile("^:?[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$")

var lbTypes = []string{"BackendUtilization", "ConsistentHash", "LeastRequest", "Random", "RoundRobin"}
