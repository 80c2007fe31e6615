package bootstrap

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcfilev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/health_check/event_sinks/file/v3"
)

// healthCheckLog renders spec.healthCheck.active.healthCheckLog on the
// cluster's health check as Envoy Gateway's translateHealthCheckLog and
// buildXdsHealthCheck do (internal/gatewayapi/listener.go,
// internal/xds/translator/cluster.go): no matches logs every event; Failure
// and Success set always_log_health_check_failures/_success, the transition
// types leave them false (Envoy's transition-only logging); each File sink
// is a file event sink, /dev/stdout when no sink is given.
func healthCheckLog(c *ruleCtx, l *egv1a1.ProxyHealthCheckLog, hc *corev3.HealthCheck) {
	if l == nil {
		return
	}
	const f = "spec.healthCheck.active.healthCheckLog"
	if len(l.Matches) == 0 {
		hc.AlwaysLogHealthCheckFailures, hc.AlwaysLogHealthCheckSuccess = true, true
	}
	var failure, success bool
	for _, m := range l.Matches {
		switch m {
		case egv1a1.ProxyHealthCheckLogEventTypeFailure:
			hc.AlwaysLogHealthCheckFailures, failure = true, true
		case egv1a1.ProxyHealthCheckLogEventTypeFailureSeriesStart:
			failure = true
		case egv1a1.ProxyHealthCheckLogEventTypeSuccess:
			hc.AlwaysLogHealthCheckSuccess, success = true, true
		case egv1a1.ProxyHealthCheckLogEventTypeHealthyTransition:
			success = true
		default:
			c.fail(f+".matches", string(m), "allowed Failure, FailureSeriesStart, Success, HealthyTransition")
		}
	}
	// The CRD's rule: a failure type and a success type come together.
	if len(l.Matches) > 0 && failure != success {
		c.fail(f+".matches", l.Matches, "a failure type (Failure, FailureSeriesStart) and a success type (Success, HealthyTransition) must both be given")
	}
	paths := []string{"/dev/stdout"}
	if len(l.Sinks) > 0 {
		paths = nil
	}
	for _, s := range l.Sinks {
		if s.Type != egv1a1.ProxyHealthCheckLogSinkTypeFile {
			c.fail(f+".sinks[].type", string(s.Type), "allowed File")
			continue
		}
		if s.File == nil || s.File.Path == "" {
			c.fail(f+".sinks[].file.path", nil, "is required with type File")
			continue
		}
		paths = append(paths, s.File.Path)
	}
	for _, p := range paths {
		hc.EventLogger = append(hc.EventLogger, &corev3.TypedExtensionConfig{
			Name:        "envoy.health_check.event_sinks.file",
			TypedConfig: mustAny(&hcfilev3.HealthCheckEventFileSink{EventLogPath: p}),
		})
	}
}
