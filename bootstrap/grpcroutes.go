package bootstrap

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// A GRPCRoute rule renders like an HTTPRoute rule (same route and cluster
// features, one cluster per backend), with Envoy Gateway's gRPC specifics:
// service/method matches become path matches, the clusters speak HTTP/2
// (cluster.go's http2 flag), the routes carry no upgrade_configs, and a
// listener with a GRPCRoute gets the grpc_web and grpc_stats filters.

// Envoy Gateway's patterns for a gRPC service and method name, used when a
// RegularExpression match gives only the other half of the path.
const (
	grpcServicePattern = `(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*`
	grpcMethodPattern  = `[A-Za-z_][A-Za-z_0-9]*`
)

// grpcRouteMatches checks a GRPCRoute rule and renders its matches the way
// Envoy Gateway's processGRPCRouteRule does (one matching every request, as
// match -1, when there are none; first is the first match's number).
// Problems go to list.
func grpcRouteMatches(rt *policy.Route, rule *policy.Rule, list *policy.ErrorList) (out []*routev3.RouteMatch, first int) {
	sc := &scope{list: list, resource: "GRPCRoute/" + rt.Name.Namespace + "/" + rt.Name.Name}
	f := fmt.Sprintf("spec.rules[%d]", rule.Index)
	s := rule.GRPC
	if s.SessionPersistence != nil {
		sc.fail(f+".sessionPersistence", nil, "is not supported by envoy-btp; use loadBalancer.consistentHash cookie")
	}
	if len(s.Matches) == 0 {
		return []*routev3.RouteMatch{{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}, -1
	}
	for i := range s.Matches {
		out = append(out, grpcRouteMatch(sc, fmt.Sprintf("%s.matches[%d]", f, i), &s.Matches[i]))
	}
	return out, 0
}

func grpcRouteMatch(sc *scope, f string, m *gwapiv1.GRPCRouteMatch) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	for j, h := range m.Headers {
		sm := exact(h.Value)
		if h.Type != nil && *h.Type == gwapiv1.GRPCHeaderMatchRegularExpression {
			checkRegex(sc, fmt.Sprintf("%s.headers[%d].value", f, j), h.Value)
			sm = regex(h.Value)
		}
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 string(h.Name),
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm},
		})
	}
	mm := m.Method
	if mm == nil || (mm.Service == nil && mm.Method == nil) {
		return rm
	}
	// A gRPC request's path is /SERVICE/METHOD.
	if mm.Type != nil && *mm.Type == gwapiv1.GRPCMethodMatchRegularExpression {
		svc, method := grpcServicePattern, grpcMethodPattern
		if mm.Service != nil {
			checkRegex(sc, f+".method.service", *mm.Service)
			svc = *mm.Service
		}
		if mm.Method != nil {
			checkRegex(sc, f+".method.method", *mm.Method)
			method = *mm.Method
		}
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/" + svc + "/" + method}}
		return rm
	}
	switch {
	case mm.Service != nil && mm.Method != nil:
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: "/" + *mm.Service + "/" + *mm.Method}
	case mm.Method != nil:
		// Any service: the path ends in /METHOD (a header match, since a
		// path specifier has no suffix form).
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name: ":path",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: "/" + *mm.Method},
			}},
		})
	default:
		rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/" + *mm.Service}
	}
	return rm
}

// grpcFilters are the HTTP filters Envoy Gateway adds to a listener with a
// GRPCRoute: gRPC-Web translation and per-method gRPC stats
// (cluster.<name>.grpc.<service>.<method>.{success,failure,total}).
func grpcFilters() []*hcmv3.HttpFilter {
	return []*hcmv3.HttpFilter{
		{
			Name:       "envoy.filters.http.grpc_web",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&grpcwebv3.GrpcWeb{})},
		},
		{
			Name: "envoy.filters.http.grpc_stats",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&grpcstatsv3.FilterConfig{
				EmitFilterState:        true,
				PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{StatsForAllMethods: wrapperspb.Bool(true)},
			})},
		},
	}
}
