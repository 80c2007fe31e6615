package bootstrap

import (
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	admissionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/admission_control/v3"
	codecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// grpcCodes are the gRPC status names admissionControl's successCriteria
// takes, by code.
var grpcCodes = map[egv1a1.GRPCSuccessCode]uint32{
	"Ok": 0, "Cancelled": 1, "Unknown": 2, "InvalidArgument": 3, "DeadlineExceeded": 4, "NotFound": 5,
	"AlreadyExists": 6, "PermissionDenied": 7, "ResourceExhausted": 8, "FailedPrecondition": 9, "Aborted": 10,
	"OutOfRange": 11, "Unimplemented": 12, "Internal": 13, "Unavailable": 14, "DataLoss": 15, "Unauthenticated": 16,
}

// admissionControlCluster renders spec.admissionControl as Envoy Gateway
// does (internal/xds/translator/admission_control.go and cluster.go, case
// backendtrafficpolicy-admission-control): an upstream HTTP filter
// envoy.filters.http.admission_control on the cluster, always enabled,
// followed by the upstream codec that must end an upstream filter chain.
// Every HTTP success status is a one-code range; an unset successCriteria
// leaves Envoy's defaults (HTTP 2xx-4xx except 5xx, gRPC OK and the
// client-side codes).
func admissionControlCluster(c *ruleCtx, t *clusterTemplate) {
	ac := c.spec.AdmissionControl
	if ac == nil {
		return
	}
	const f = "spec.admissionControl"
	cfg := &admissionv3.AdmissionControl{
		Enabled: &corev3.RuntimeFeatureFlag{DefaultValue: wrapperspb.Bool(true)},
	}
	if ac.SamplingWindow != nil {
		// Envoy Gateway drops a window it cannot parse; btp says so.
		d, err := time.ParseDuration(string(*ac.SamplingWindow))
		if err != nil || d <= 0 {
			c.fail(f+".samplingWindow", string(*ac.SamplingWindow), "allowed a positive duration such as 30s")
		} else {
			cfg.SamplingWindow = durationpb.New(d)
		}
	}
	if v := ac.MinSuccessRate; v != nil {
		if *v < 1 || *v > 100 {
			c.fail(f+".minSuccessRate", *v, "allowed 1-100")
		}
		cfg.SrThreshold = &corev3.RuntimePercent{DefaultValue: &typev3.Percent{Value: float64(*v)}}
	}
	if v := ac.RejectionAggression; v != nil {
		if *v < 1 {
			c.fail(f+".rejectionAggression", *v, "allowed 1 or more")
		}
		cfg.Aggression = &corev3.RuntimeDouble{DefaultValue: float64(*v)}
	}
	if v := ac.MinRequestRate; v != nil {
		cfg.RpsThreshold = &corev3.RuntimeUInt32{DefaultValue: *v}
	}
	if v := ac.MaxRejectionPercent; v != nil {
		if *v > 100 {
			c.fail(f+".maxRejectionPercent", *v, "allowed 0-100")
		}
		cfg.MaxRejectionProbability = &corev3.RuntimePercent{DefaultValue: &typev3.Percent{Value: float64(*v)}}
	}
	sc := &admissionv3.AdmissionControl_SuccessCriteria{}
	if s := ac.SuccessCriteria; s != nil {
		if s.HTTP != nil && len(s.HTTP.StatusCodes) > 0 {
			h := &admissionv3.AdmissionControl_SuccessCriteria_HttpCriteria{}
			for _, code := range s.HTTP.StatusCodes {
				if code < 100 || code > 599 {
					c.fail(f+".successCriteria.http.statusCodes", int(code), "allowed 100-599")
				}
				h.HttpSuccessStatus = append(h.HttpSuccessStatus, &typev3.Int32Range{Start: int32(code), End: int32(code) + 1})
			}
			sc.HttpCriteria = h
		}
		if s.GRPC != nil && len(s.GRPC.StatusCodes) > 0 {
			g := &admissionv3.AdmissionControl_SuccessCriteria_GrpcCriteria{}
			for _, name := range s.GRPC.StatusCodes {
				code, ok := grpcCodes[name]
				if !ok {
					c.fail(f+".successCriteria.grpc.statusCodes", string(name), "allowed a gRPC status name such as Ok, Unavailable")
					continue
				}
				g.GrpcSuccessStatus = append(g.GrpcSuccessStatus, code)
			}
			sc.GrpcCriteria = g
		}
	}
	cfg.EvaluationCriteria = &admissionv3.AdmissionControl_SuccessCriteria_{SuccessCriteria: sc}
	p := t.protocolOptions()
	p.HttpFilters = append(p.HttpFilters,
		&hcmv3.HttpFilter{Name: "envoy.filters.http.admission_control", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)}},
		&hcmv3.HttpFilter{Name: "envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&codecv3.UpstreamCodec{})}},
	)
}
