package bootstrap

import (
	"encoding/hex"
	"sort"
	"strings"
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// healthCheckCluster renders spec.healthCheck.active as the cluster's
// health_checks, with Envoy Gateway's defaults (timeout 1s, interval 3s,
// unhealthy after 3, healthy after 1) for fields left unset.
func healthCheckCluster(c *ruleCtx, t *clusterTemplate) {
	if c.spec.HealthCheck == nil || c.spec.HealthCheck.Active == nil {
		return
	}
	const f = "spec.healthCheck.active"
	a := c.spec.HealthCheck.Active
	hc := &corev3.HealthCheck{
		Timeout:            durationpb.New(time.Second),
		Interval:           durationpb.New(3 * time.Second),
		UnhealthyThreshold: u32(3),
		HealthyThreshold:   u32(1),
	}
	c.setDuration(f+".timeout", a.Timeout, &hc.Timeout)
	c.setDuration(f+".interval", a.Interval, &hc.Interval)
	c.setDuration(f+".initialJitter", a.InitialJitter, &hc.InitialJitter)
	if a.UnhealthyThreshold != nil {
		if *a.UnhealthyThreshold < 1 {
			c.fail(f+".unhealthyThreshold", *a.UnhealthyThreshold, "allowed 1 or more")
		}
		hc.UnhealthyThreshold = u32(*a.UnhealthyThreshold)
	}
	if a.HealthyThreshold != nil {
		if *a.HealthyThreshold < 1 {
			c.fail(f+".healthyThreshold", *a.HealthyThreshold, "allowed 1 or more")
		}
		hc.HealthyThreshold = u32(*a.HealthyThreshold)
	}
	if a.HTTP != nil && a.Type != egv1a1.ActiveHealthCheckerTypeHTTP {
		c.fail(f+".http", nil, "allowed only with type HTTP")
	}
	if a.TCP != nil && a.Type != egv1a1.ActiveHealthCheckerTypeTCP {
		c.fail(f+".tcp", nil, "allowed only with type TCP")
	}
	if a.GRPC != nil && a.Type != egv1a1.ActiveHealthCheckerTypeGRPC {
		c.fail(f+".grpc", nil, "allowed only with type GRPC")
	}
	switch a.Type {
	case egv1a1.ActiveHealthCheckerTypeHTTP:
		h := a.HTTP
		if h == nil || h.Path == "" {
			c.fail(f+".http.path", nil, "is required with type HTTP")
			return
		}
		hh := &corev3.HealthCheck_HttpHealthCheck{Path: h.Path, Host: c.healthCheckHost(h.Hostname)}
		if h.Method != nil {
			m, ok := corev3.RequestMethod_value[strings.ToUpper(*h.Method)]
			if !ok || m == 0 {
				c.fail(f+".http.method", *h.Method, "allowed GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH")
			}
			hh.Method = corev3.RequestMethod(m)
		}
		hh.ExpectedStatuses = statusRanges(c, f+".http.expectedStatuses", h.ExpectedStatuses)
		hh.RetriableStatuses = statusRanges(c, f+".http.retriableStatuses", h.RetriableStatuses)
		if p := payload(c, f+".http.expectedResponse", h.ExpectedResponse); p != nil {
			hh.Receive = []*corev3.HealthCheck_Payload{p}
		}
		if h.RequestBody != nil {
			if h.Method == nil || (strings.ToUpper(*h.Method) != "POST" && strings.ToUpper(*h.Method) != "PUT") {
				c.fail(f+".http.requestBody", nil, "allowed only with method POST or PUT")
			}
			hh.Send = payload(c, f+".http.requestBody", h.RequestBody)
		}
		hc.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: hh}
	case egv1a1.ActiveHealthCheckerTypeTCP:
		if a.TCP == nil {
			c.fail(f+".tcp", nil, "is required with type TCP")
			return
		}
		th := &corev3.HealthCheck_TcpHealthCheck{Send: payload(c, f+".tcp.send", a.TCP.Send)}
		if p := payload(c, f+".tcp.receive", a.TCP.Receive); p != nil {
			th.Receive = []*corev3.HealthCheck_Payload{p}
		}
		hc.HealthChecker = &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: th}
	case egv1a1.ActiveHealthCheckerTypeGRPC:
		g := &corev3.HealthCheck_GrpcHealthCheck{}
		if a.GRPC != nil && a.GRPC.Service != nil {
			g.ServiceName = *a.GRPC.Service
		}
		hc.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: g}
		// Envoy checks gRPC over HTTP/2 only: a gRPC backend speaks HTTP/2.
		t.http2 = true
	case "":
		c.fail(f+".type", nil, "is required: allowed HTTP, TCP, GRPC")
		return
	default:
		c.fail(f+".type", string(a.Type), "allowed HTTP, TCP, GRPC")
		return
	}
	if a.Overrides != nil && a.Overrides.Port != 0 {
		if a.Overrides.Port < 1 || a.Overrides.Port > 65535 {
			c.fail(f+".overrides.port", a.Overrides.Port, "allowed 1-65535")
		}
		t.hcPort = uint32(a.Overrides.Port)
	}
	healthCheckLog(c, a.HealthCheckLog, hc)
	t.cluster.HealthChecks = []*corev3.HealthCheck{hc}
}

// healthCheckHost is the Host header of HTTP checks: the configured
// hostname, else the route's first concrete hostname (as Envoy Gateway).
func (c *ruleCtx) healthCheckHost(h *string) string {
	if h != nil {
		return *h
	}
	for _, n := range c.rt.Hostnames {
		if !strings.Contains(n, "*") {
			return n
		}
	}
	return ""
}

// statusRanges merges status codes into Envoy's half-open ranges.
func statusRanges(c *ruleCtx, field string, codes []egv1a1.HTTPStatus) []*typev3.Int64Range {
	if len(codes) == 0 {
		return nil
	}
	s := make([]int64, 0, len(codes))
	for _, code := range codes {
		if code < 100 || code > 599 {
			c.fail(field, int(code), "allowed status codes 100-599")
			return nil
		}
		s = append(s, int64(code))
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var out []*typev3.Int64Range
	for _, v := range s {
		if n := len(out); n > 0 && out[n-1].End >= v {
			if out[n-1].End == v {
				out[n-1].End = v + 1
			}
			continue
		}
		out = append(out, &typev3.Int64Range{Start: v, End: v + 1})
	}
	return out
}

// payload renders a health check payload; Envoy wants text as hex.
func payload(c *ruleCtx, field string, p *egv1a1.ActiveHealthCheckPayload) *corev3.HealthCheck_Payload {
	if p == nil {
		return nil
	}
	switch p.Type {
	case egv1a1.ActiveHealthCheckPayloadTypeText:
		if p.Text == nil || *p.Text == "" || p.Binary != nil {
			c.fail(field+".text", nil, "is required (and binary not allowed) with type Text")
			return nil
		}
		return &corev3.HealthCheck_Payload{Payload: &corev3.HealthCheck_Payload_Text{Text: hex.EncodeToString([]byte(*p.Text))}}
	case egv1a1.ActiveHealthCheckPayloadTypeBinary:
		if len(p.Binary) == 0 || p.Text != nil {
			c.fail(field+".binary", nil, "is required (and text not allowed) with type Binary")
			return nil
		}
		return &corev3.HealthCheck_Payload{Payload: &corev3.HealthCheck_Payload_Binary{Binary: append([]byte(nil), p.Binary...)}}
	}
	c.fail(field+".type", string(p.Type), "allowed Text, Binary")
	return nil
}
