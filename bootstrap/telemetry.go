package bootstrap

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tracingv3 "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// telemetryRoute renders spec.telemetry: metrics.routeStatName as the
// route's stat_prefix (with Envoy Gateway's %ROUTE_...% operators) and
// tracing as the route's tracing overrides. Tracing also switches on the
// listener's tracing; which tracer receives the spans is Envoy-wide
// configuration envoy-btp does not render (docs/bootstrap.md).
func telemetryRoute(c *ruleCtx) {
	tel := c.spec.Telemetry
	if tel == nil {
		return
	}
	if m := tel.Metrics; m != nil && m.RouteStatName != nil && *m.RouteStatName != "" {
		rule := "-"
		if c.rule.Name != nil {
			rule = *c.rule.Name
		}
		s := *m.RouteStatName
		s = strings.ReplaceAll(s, egv1a1.StatFormatterRouteName, c.rt.Name.Name)
		s = strings.ReplaceAll(s, egv1a1.StatFormatterRouteNamespace, c.rt.Name.Namespace)
		s = strings.ReplaceAll(s, egv1a1.StatFormatterRouteKind, "HTTPRoute")
		s = strings.ReplaceAll(s, egv1a1.StatFormatterRouteRuleName, rule)
		s = strings.ReplaceAll(s, egv1a1.StatFormatterRouteRuleNumber, strconv.Itoa(c.rule.Index))
		c.route.StatPrefix = s
	}
	tr := tel.Tracing
	if tr == nil {
		return
	}
	const f = "spec.telemetry.tracing"
	out := &routev3.Tracing{ClientSampling: &typev3.FractionalPercent{}}
	frac := func(field string, fr *gwapiv1.Fraction) *typev3.FractionalPercent {
		if fr == nil {
			return nil
		}
		p, ok := fractionPercent(c, f+"."+field, fr)
		if !ok {
			return nil
		}
		// Envoy's finest denominator keeps fractions such as 1/3 close.
		return &typev3.FractionalPercent{Numerator: uint32(p * 10000), Denominator: typev3.FractionalPercent_MILLION}
	}
	out.RandomSampling = frac("samplingFraction", tr.SamplingFraction)
	if cs := frac("clientSamplingFraction", tr.ClientSamplingFraction); cs != nil {
		out.ClientSampling = cs
	}
	out.OverallSampling = frac("overallSamplingFraction", tr.OverallSamplingFraction)
	tags := map[string]*tracingv3.CustomTag{}
	ckeys := make([]string, 0, len(tr.CustomTags))
	for k := range tr.CustomTags {
		ckeys = append(ckeys, k)
	}
	sort.Strings(ckeys)
	for _, k := range ckeys {
		v := tr.CustomTags[k]
		ct := &tracingv3.CustomTag{Tag: k}
		field := fmt.Sprintf("%s.customTags.%s", f, k)
		switch {
		case v.Type == egv1a1.CustomTagTypeLiteral && v.Literal != nil:
			ct.Type = &tracingv3.CustomTag_Literal_{Literal: &tracingv3.CustomTag_Literal{Value: v.Literal.Value}}
		case v.Type == egv1a1.CustomTagTypeEnvironment && v.Environment != nil:
			e := &tracingv3.CustomTag_Environment{Name: v.Environment.Name}
			if v.Environment.DefaultValue != nil {
				e.DefaultValue = *v.Environment.DefaultValue
			}
			ct.Type = &tracingv3.CustomTag_Environment_{Environment: e}
		case v.Type == egv1a1.CustomTagTypeRequestHeader && v.RequestHeader != nil:
			h := &tracingv3.CustomTag_Header{Name: v.RequestHeader.Name}
			if v.RequestHeader.DefaultValue != nil {
				h.DefaultValue = *v.RequestHeader.DefaultValue
			}
			ct.Type = &tracingv3.CustomTag_RequestHeader{RequestHeader: h}
		default:
			c.fail(field+".type", string(v.Type), "allowed Literal, Environment, RequestHeader, each with its matching field set")
			continue
		}
		tags[k] = ct
	}
	// tags win over customTags with the same key, as in Envoy Gateway.
	for k, v := range tr.Tags {
		tags[k] = &tracingv3.CustomTag{Tag: k, Type: &tracingv3.CustomTag_Value{Value: v}}
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.CustomTags = append(out.CustomTags, tags[k])
	}
	if sn := tr.SpanName; sn != nil {
		out.Operation, out.UpstreamOperation = sn.Client, sn.Server
	}
	c.route.Tracing = out
	c.port.tracing = true
}
