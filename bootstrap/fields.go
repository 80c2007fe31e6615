package bootstrap

import (
	"encoding/json"
	"fmt"
	"sort"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
)

// supported lists every BackendTrafficPolicy spec path envoy-btp renders or
// enforces ("[]" marks list items, "*" map keys). Anything else present in an
// effective policy is a render error naming it: a field is never dropped
// silently, including fields a future Envoy Gateway API adds.
var supported = fieldSet(
	// attachment (resolved by the policy package)
	"targetRef", "targetRef.group", "targetRef.kind", "targetRef.name", "targetRef.sectionName",
	"targetRefs", "targetRefs[].group", "targetRefs[].kind", "targetRefs[].name", "targetRefs[].sectionName",
	"targetSelectors", "targetSelectors[].group", "targetSelectors[].kind",
	"targetSelectors[].matchLabels", "targetSelectors[].matchLabels.*",
	"targetSelectors[].matchExpressions", "targetSelectors[].matchExpressions[].key",
	"targetSelectors[].matchExpressions[].operator", "targetSelectors[].matchExpressions[].values",
	"targetSelectors[].namespaces", "targetSelectors[].namespaces.from", "targetSelectors[].namespaces.selector",
	"targetSelectors[].namespaces.selector.matchLabels", "targetSelectors[].namespaces.selector.matchLabels.*",
	"targetSelectors[].namespaces.selector.matchExpressions", "targetSelectors[].namespaces.selector.matchExpressions[].key",
	"targetSelectors[].namespaces.selector.matchExpressions[].operator", "targetSelectors[].namespaces.selector.matchExpressions[].values",
	"mergeType",
	// the policy package picks the cluster IPs for routingType: Service
	"routingType",

	// loadbalancer.go
	"loadBalancer", "loadBalancer.type",
	"loadBalancer.consistentHash", "loadBalancer.consistentHash.type", "loadBalancer.consistentHash.tableSize",
	"loadBalancer.consistentHash.header", "loadBalancer.consistentHash.header.name",
	"loadBalancer.consistentHash.headers", "loadBalancer.consistentHash.headers[].name",
	"loadBalancer.consistentHash.cookie", "loadBalancer.consistentHash.cookie.name",
	"loadBalancer.consistentHash.cookie.ttl", "loadBalancer.consistentHash.cookie.attributes",
	"loadBalancer.consistentHash.cookie.attributes.*",
	"loadBalancer.consistentHash.queryParams", "loadBalancer.consistentHash.queryParams[].name",
	"loadBalancer.slowStart", "loadBalancer.slowStart.window",
	// backendutilization.go
	"loadBalancer.backendUtilization", "loadBalancer.backendUtilization.blackoutPeriod",
	"loadBalancer.backendUtilization.weightExpirationPeriod", "loadBalancer.backendUtilization.weightUpdatePeriod",
	"loadBalancer.backendUtilization.errorUtilizationPenaltyPercent",
	"loadBalancer.backendUtilization.metricNamesForComputingUtilization",
	"loadBalancer.backendUtilization.keepResponseHeaders", "loadBalancer.backendUtilization.outOfBand",
	"loadBalancer.backendUtilization.outOfBand.reportingPeriod", "loadBalancer.backendUtilization.outOfBand.port",
	"loadBalancer.backendUtilization.outOfBand.authority",
	// endpointoverride.go
	"loadBalancer.endpointOverride", "loadBalancer.endpointOverride.extractFrom",
	"loadBalancer.endpointOverride.extractFrom[].header",
	"loadBalancer.zoneAware", "loadBalancer.zoneAware.preferLocal",
	"loadBalancer.zoneAware.preferLocal.force", "loadBalancer.zoneAware.preferLocal.force.minEndpointsInZoneThreshold",
	"loadBalancer.zoneAware.preferLocal.minEndpointsThreshold", "loadBalancer.zoneAware.preferLocal.percentageEnabled",
	// weightedzones.go
	"loadBalancer.zoneAware.weightedZones", "loadBalancer.zoneAware.weightedZones[].zone",
	"loadBalancer.zoneAware.weightedZones[].weight",

	// retry.go (route retry_policy) and the filter's retry decisions
	"retry", "retry.numRetries", "retry.numAttemptsPerPriority",
	"retry.retryOn", "retry.retryOn.triggers", "retry.retryOn.httpStatusCodes",
	"retry.perRetry", "retry.perRetry.timeout", "retry.perRetry.backOff",
	"retry.perRetry.backOff.baseInterval", "retry.perRetry.backOff.maxInterval",

	// proxyprotocol.go, keepalive.go
	"proxyProtocol", "proxyProtocol.version",
	"tcpKeepalive", "tcpKeepalive.probes", "tcpKeepalive.idleTime", "tcpKeepalive.interval",

	// healthcheck.go, outlier.go
	"healthCheck", "healthCheck.panicThreshold",
	"healthCheck.active", "healthCheck.active.type", "healthCheck.active.timeout", "healthCheck.active.interval",
	"healthCheck.active.initialJitter", "healthCheck.active.unhealthyThreshold", "healthCheck.active.healthyThreshold",
	"healthCheck.active.http", "healthCheck.active.http.hostname", "healthCheck.active.http.path",
	"healthCheck.active.http.method", "healthCheck.active.http.expectedStatuses", "healthCheck.active.http.retriableStatuses",
	"healthCheck.active.http.expectedResponse", "healthCheck.active.http.expectedResponse.type",
	"healthCheck.active.http.expectedResponse.text", "healthCheck.active.http.expectedResponse.binary",
	"healthCheck.active.http.requestBody", "healthCheck.active.http.requestBody.type",
	"healthCheck.active.http.requestBody.text", "healthCheck.active.http.requestBody.binary",
	"healthCheck.active.tcp", "healthCheck.active.tcp.send", "healthCheck.active.tcp.send.type",
	"healthCheck.active.tcp.send.text", "healthCheck.active.tcp.send.binary",
	"healthCheck.active.tcp.receive", "healthCheck.active.tcp.receive.type",
	"healthCheck.active.tcp.receive.text", "healthCheck.active.tcp.receive.binary",
	"healthCheck.active.grpc", "healthCheck.active.grpc.service",
	"healthCheck.active.overrides", "healthCheck.active.overrides.port",
	// healthchecklog.go
	"healthCheck.active.healthCheckLog", "healthCheck.active.healthCheckLog.matches",
	"healthCheck.active.healthCheckLog.sinks", "healthCheck.active.healthCheckLog.sinks[].type",
	"healthCheck.active.healthCheckLog.sinks[].file", "healthCheck.active.healthCheckLog.sinks[].file.path",
	"healthCheck.passive", "healthCheck.passive.splitExternalLocalOriginErrors", "healthCheck.passive.interval",
	"healthCheck.passive.consecutiveLocalOriginFailures", "healthCheck.passive.consecutiveGatewayErrors",
	"healthCheck.passive.consecutive5XxErrors", "healthCheck.passive.baseEjectionTime",
	"healthCheck.passive.maxEjectionPercent", "healthCheck.passive.failurePercentageThreshold",
	"healthCheck.passive.alwaysEjectOneEndpoint",

	// circuitbreaker.go
	"circuitBreaker", "circuitBreaker.maxConnections", "circuitBreaker.maxPendingRequests",
	"circuitBreaker.maxParallelRequests", "circuitBreaker.maxParallelRetries",
	"circuitBreaker.maxRequestsPerConnection", "circuitBreaker.perEndpoint",
	"circuitBreaker.perEndpoint.maxConnections",
	"circuitBreaker.retryBudget", "circuitBreaker.retryBudget.percent",
	"circuitBreaker.retryBudget.percent.numerator", "circuitBreaker.retryBudget.percent.denominator",
	"circuitBreaker.retryBudget.minRetryConcurrency",

	// timeout.go
	"timeout", "timeout.tcp", "timeout.tcp.connectTimeout",
	"timeout.http", "timeout.http.connectionIdleTimeout", "timeout.http.maxConnectionDuration",
	"timeout.http.requestTimeout", "timeout.http.maxStreamDuration", "timeout.http.streamIdleTimeout",

	// connection.go, dns.go, http2.go
	"connection", "connection.bufferLimit", "connection.preconnect",
	"connection.preconnect.perEndpointPercent", "connection.preconnect.predictivePercent",
	"dns", "dns.dnsRefreshRate", "dns.respectDnsTtl", "dns.lookupFamily",
	"http2", "http2.initialStreamWindowSize", "http2.initialConnectionWindowSize",
	"http2.maxConcurrentStreams", "http2.onInvalidMessage",
	"http2.connectionKeepalive", "http2.connectionKeepalive.interval", "http2.connectionKeepalive.timeout",
	"http2.connectionKeepalive.intervalJitter", "http2.connectionKeepalive.idleInterval",

	// ratelimit.go (Global) and the filter (Local)
	"rateLimit", "rateLimit.type",
	"rateLimit.global", "rateLimit.global.rules",
	"rateLimit.global.rules[].limit", "rateLimit.global.rules[].limit.requests", "rateLimit.global.rules[].limit.unit",
	"rateLimit.global.rules[].limit.fromMetadata", "rateLimit.global.rules[].limit.fromMetadata.namespace",
	"rateLimit.global.rules[].limit.fromMetadata.key",
	"rateLimit.global.rules[].shared", "rateLimit.global.rules[].shadowMode", "rateLimit.global.rules[].xRateLimitHeaders",
	"rateLimit.global.rules[].cost", "rateLimit.global.rules[].cost.request", "rateLimit.global.rules[].cost.response",
	"rateLimit.global.rules[].cost.request.from", "rateLimit.global.rules[].cost.request.number",
	"rateLimit.global.rules[].cost.request.metadata", "rateLimit.global.rules[].cost.request.metadata.namespace",
	"rateLimit.global.rules[].cost.request.metadata.key",
	"rateLimit.global.rules[].cost.response.from", "rateLimit.global.rules[].cost.response.number",
	"rateLimit.global.rules[].cost.response.metadata", "rateLimit.global.rules[].cost.response.metadata.namespace",
	"rateLimit.global.rules[].cost.response.metadata.key",
	"rateLimit.global.rules[].clientSelectors",
	"rateLimit.global.rules[].clientSelectors[].headers", "rateLimit.global.rules[].clientSelectors[].headers[].type",
	"rateLimit.global.rules[].clientSelectors[].headers[].name", "rateLimit.global.rules[].clientSelectors[].headers[].value",
	"rateLimit.global.rules[].clientSelectors[].headers[].invert",
	"rateLimit.global.rules[].clientSelectors[].methods", "rateLimit.global.rules[].clientSelectors[].methods[].value",
	"rateLimit.global.rules[].clientSelectors[].methods[].invert",
	"rateLimit.global.rules[].clientSelectors[].path", "rateLimit.global.rules[].clientSelectors[].path.type",
	"rateLimit.global.rules[].clientSelectors[].path.value", "rateLimit.global.rules[].clientSelectors[].path.invert",
	"rateLimit.global.rules[].clientSelectors[].sourceCIDR", "rateLimit.global.rules[].clientSelectors[].sourceCIDR.type",
	"rateLimit.global.rules[].clientSelectors[].sourceCIDR.value", "rateLimit.global.rules[].clientSelectors[].sourceCIDR.invert",
	"rateLimit.global.rules[].clientSelectors[].queryParams", "rateLimit.global.rules[].clientSelectors[].queryParams[].type",
	"rateLimit.global.rules[].clientSelectors[].queryParams[].name",
	"rateLimit.global.rules[].clientSelectors[].queryParams[].value",
	"rateLimit.global.rules[].clientSelectors[].queryParams[].invert",
	"rateLimit.local", "rateLimit.local.rules",
	"rateLimit.local.rules[].limit", "rateLimit.local.rules[].limit.requests", "rateLimit.local.rules[].limit.unit",
	"rateLimit.local.rules[].shared", "rateLimit.local.rules[].shadowMode", "rateLimit.local.rules[].xRateLimitHeaders",
	"rateLimit.local.rules[].cost", "rateLimit.local.rules[].cost.request",
	"rateLimit.local.rules[].cost.request.from", "rateLimit.local.rules[].cost.request.number",
	"rateLimit.local.rules[].clientSelectors",
	"rateLimit.local.rules[].clientSelectors[].headers", "rateLimit.local.rules[].clientSelectors[].headers[].type",
	"rateLimit.local.rules[].clientSelectors[].headers[].name", "rateLimit.local.rules[].clientSelectors[].headers[].value",
	"rateLimit.local.rules[].clientSelectors[].headers[].invert",
	"rateLimit.local.rules[].clientSelectors[].methods", "rateLimit.local.rules[].clientSelectors[].methods[].value",
	"rateLimit.local.rules[].clientSelectors[].methods[].invert",
	"rateLimit.local.rules[].clientSelectors[].path", "rateLimit.local.rules[].clientSelectors[].path.type",
	"rateLimit.local.rules[].clientSelectors[].path.value", "rateLimit.local.rules[].clientSelectors[].path.invert",
	"rateLimit.local.rules[].clientSelectors[].sourceCIDR", "rateLimit.local.rules[].clientSelectors[].sourceCIDR.type",
	"rateLimit.local.rules[].clientSelectors[].sourceCIDR.value", "rateLimit.local.rules[].clientSelectors[].sourceCIDR.invert",
	"rateLimit.local.rules[].clientSelectors[].queryParams", "rateLimit.local.rules[].clientSelectors[].queryParams[].type",
	"rateLimit.local.rules[].clientSelectors[].queryParams[].name",
	"rateLimit.local.rules[].clientSelectors[].queryParams[].value",
	"rateLimit.local.rules[].clientSelectors[].queryParams[].invert",

	// perroute.go: enforced by the filter
	"faultInjection", "faultInjection.delay", "faultInjection.delay.fixedDelay", "faultInjection.delay.percentage",
	"faultInjection.abort", "faultInjection.abort.httpStatus", "faultInjection.abort.grpcStatus",
	"faultInjection.abort.percentage",
	"requestBuffer", "requestBuffer.limit",
	"responseOverride", "responseOverride[].match", "responseOverride[].match.statusCodes",
	"responseOverride[].match.statusCodes[].type", "responseOverride[].match.statusCodes[].value",
	"responseOverride[].match.statusCodes[].range", "responseOverride[].match.statusCodes[].range.start",
	"responseOverride[].match.statusCodes[].range.end",
	"responseOverride[].response", "responseOverride[].response.contentType", "responseOverride[].response.statusCode",
	"responseOverride[].response.body", "responseOverride[].response.body.type", "responseOverride[].response.body.inline",
	"responseOverride[].response.body.valueRef", "responseOverride[].response.body.valueRef.group",
	"responseOverride[].response.body.valueRef.kind", "responseOverride[].response.body.valueRef.name",
	"responseOverride[].match.responseHeaders", "responseOverride[].match.responseHeaders[].name",
	"responseOverride[].match.responseHeaders[].value", "responseOverride[].match.responseHeaders[].value.type",
	"responseOverride[].match.responseHeaders[].value.value",
	"responseOverride[].response.header", "responseOverride[].response.header.add",
	"responseOverride[].response.header.add[].name", "responseOverride[].response.header.add[].value",
	"responseOverride[].response.header.set", "responseOverride[].response.header.set[].name",
	"responseOverride[].response.header.set[].value",
	"responseOverride[].source",
	// customresponse.go: a responseOverride with a redirect
	"responseOverride[].redirect", "responseOverride[].redirect.scheme", "responseOverride[].redirect.hostname",
	"responseOverride[].redirect.path", "responseOverride[].redirect.path.type",
	"responseOverride[].redirect.path.replaceFullPath", "responseOverride[].redirect.port",
	"responseOverride[].redirect.statusCode",

	// admissioncontrol.go
	"admissionControl", "admissionControl.samplingWindow", "admissionControl.minSuccessRate",
	"admissionControl.rejectionAggression", "admissionControl.minRequestRate", "admissionControl.maxRejectionPercent",
	"admissionControl.successCriteria", "admissionControl.successCriteria.http",
	"admissionControl.successCriteria.http.statusCodes", "admissionControl.successCriteria.grpc",
	"admissionControl.successCriteria.grpc.statusCodes",

	// bandwidthlimit.go
	"bandwidthLimit", "bandwidthLimit.request", "bandwidthLimit.request.limit",
	"bandwidthLimit.request.limit.value", "bandwidthLimit.request.limit.unit",
	"bandwidthLimit.response", "bandwidthLimit.response.limit",
	"bandwidthLimit.response.limit.value", "bandwidthLimit.response.limit.unit",
	"bandwidthLimit.response.responseTrailers", "bandwidthLimit.response.responseTrailers.prefix",

	// compression.go, upgrade.go, protocol.go, telemetry.go
	"compression", "compression[].type", "compression[].gzip", "compression[].brotli", "compression[].zstd",
	"compression[].minContentLength",
	"compressor", "compressor[].type", "compressor[].gzip", "compressor[].brotli", "compressor[].zstd",
	"compressor[].minContentLength",
	"httpUpgrade", "httpUpgrade[].type", "httpUpgrade[].connect", "httpUpgrade[].connect.terminate",
	"useClientProtocol",
	"telemetry", "telemetry.metrics", "telemetry.metrics.routeStatName",
	"telemetry.tracing", "telemetry.tracing.samplingFraction", "telemetry.tracing.samplingFraction.numerator",
	"telemetry.tracing.samplingFraction.denominator", "telemetry.tracing.clientSamplingFraction",
	"telemetry.tracing.clientSamplingFraction.numerator", "telemetry.tracing.clientSamplingFraction.denominator",
	"telemetry.tracing.overallSamplingFraction", "telemetry.tracing.overallSamplingFraction.numerator",
	"telemetry.tracing.overallSamplingFraction.denominator",
	"telemetry.tracing.tags", "telemetry.tracing.tags.*",
	"telemetry.tracing.customTags", "telemetry.tracing.customTags.*", "telemetry.tracing.customTags.*.type",
	"telemetry.tracing.customTags.*.literal", "telemetry.tracing.customTags.*.literal.value",
	"telemetry.tracing.customTags.*.environment", "telemetry.tracing.customTags.*.environment.name",
	"telemetry.tracing.customTags.*.environment.defaultValue",
	"telemetry.tracing.customTags.*.requestHeader", "telemetry.tracing.customTags.*.requestHeader.name",
	"telemetry.tracing.customTags.*.requestHeader.defaultValue",
	"telemetry.tracing.spanName", "telemetry.tracing.spanName.client", "telemetry.tracing.spanName.server",
)

// notImplemented are fields Envoy Gateway v1.9.1's API declares but its
// translator never reads (marked +notImplementedHide): Envoy Gateway renders
// nothing for them, so btp refuses them rather than accept a setting that
// does nothing.
var notImplemented = map[string]bool{
	"connection.socketBufferLimit": true,
}

func fieldSet(paths ...string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}

// checkSupported reports every set field of spec that envoy-btp does not
// render or enforce.
func checkSupported(spec *egv1a1.BackendTrafficPolicySpec, s *scope) {
	raw, err := json.Marshal(spec)
	if err != nil {
		s.fail("spec", nil, "cannot be encoded: "+err.Error())
		return
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		s.fail("spec", nil, "cannot be decoded: "+err.Error())
		return
	}
	var bad []string
	walkFields(tree, "", "", &bad)
	sort.Strings(bad)
	for _, b := range bad {
		if notImplemented[b] {
			s.fail("spec."+b, nil, "is not implemented by Envoy Gateway v1.9.1 (its API hides it as notImplemented and its translator renders nothing for it); remove it")
			continue
		}
		s.fail("spec."+b, nil, "is not supported by envoy-btp (see docs/bootstrap.md for every supported field); remove it")
	}
}

// walkFields appends to bad the concrete path of every unsupported field
// under v. pattern is the path with list indices as "[]" and map keys as "*".
func walkFields(v any, path, pattern string, bad *[]string) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if t[k] == nil {
				continue // JSON null: a field without omitempty left unset
			}
			p, pat := join(path, k), join(pattern, k)
			if !supported[pat] {
				star := join(pattern, "*")
				if !supported[star] {
					*bad = append(*bad, p)
					continue
				}
				pat = star
			}
			walkFields(t[k], p, pat, bad)
		}
	case []any:
		for i, e := range t {
			walkFields(e, fmt.Sprintf("%s[%d]", path, i), pattern+"[]", bad)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
