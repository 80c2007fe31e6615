package bootstrap

import (
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	bwlimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/bandwidth_limit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The two bandwidth_limit filters Envoy Gateway puts in a listener's chain
// (internal/xds/translator/bandwidth_limit.go): one per direction, so a
// route can limit its request and its response independently.
const (
	bandwidthRequestFilter  = "envoy.filters.http.bandwidth_limit/request"
	bandwidthResponseFilter = "envoy.filters.http.bandwidth_limit/response"
	bandwidthStatPrefix     = "http_bandwidth_limiter"
)

// bandwidthLimitRoute renders spec.bandwidthLimit as Envoy Gateway does:
// the listener's bandwidth_limit filters are disabled by default and this
// route's per-route config enables the direction it limits, at the limit
// converted to whole KiB/s (buildBandwidthLimit and bandwidthToKibps in
// internal/gatewayapi/backendtrafficpolicy.go); below 1 KiB/s is an error,
// as there (case backendtrafficpolicy-with-bandwidth-invalid-limit).
func bandwidthLimitRoute(c *ruleCtx) {
	bl := c.spec.BandwidthLimit
	if bl == nil {
		return
	}
	const f = "spec.bandwidthLimit"
	if r := bl.Request; r != nil {
		if kibps, ok := bandwidthKibps(c, f+".request.limit", r.Limit); ok {
			c.port.bandwidthRequest = true
			c.perFilter(bandwidthRequestFilter, mustAny(&bwlimitv3.BandwidthLimit{
				StatPrefix: bandwidthStatPrefix,
				EnableMode: bwlimitv3.BandwidthLimit_REQUEST,
				LimitKbps:  wrapperspb.UInt64(kibps),
			}))
		}
	}
	if r := bl.Response; r != nil {
		if kibps, ok := bandwidthKibps(c, f+".response.limit", r.Limit); ok {
			cfg := &bwlimitv3.BandwidthLimit{
				StatPrefix: bandwidthStatPrefix,
				EnableMode: bwlimitv3.BandwidthLimit_RESPONSE,
				LimitKbps:  wrapperspb.UInt64(kibps),
			}
			if t := r.ResponseTrailers; t != nil {
				cfg.EnableResponseTrailers = true
				if t.Prefix != nil {
					cfg.ResponseTrailerPrefix = *t.Prefix
				}
			}
			c.port.bandwidthResponse = true
			c.perFilter(bandwidthResponseFilter, mustAny(cfg))
		}
	}
}

// bandwidthKibps converts a bytes-per-unit limit to whole KiB per second.
func bandwidthKibps(c *ruleCtx, f string, l egv1a1.BandwidthLimitValue) (uint64, bool) {
	v, ok := l.Value.AsInt64()
	if !ok || v <= 0 {
		c.fail(f+".value", l.Value.String(), "allowed a positive byte count such as 1Mi")
		return 0, false
	}
	var per int64
	switch l.Unit {
	case egv1a1.BandwidthLimitUnitSecond:
		per = 1
	case egv1a1.BandwidthLimitUnitMinute:
		per = 60
	case egv1a1.BandwidthLimitUnitHour:
		per = 3600
	default:
		c.fail(f+".unit", string(l.Unit), "allowed Second, Minute, Hour")
		return 0, false
	}
	kibps := uint64(v / (per * 1024))
	if kibps == 0 {
		c.fail(f, fmt.Sprintf("%s per %s", l.Value.String(), l.Unit), "below Envoy's minimum of 1 KiB/s")
		return 0, false
	}
	return kibps, true
}

// bandwidthFilters are the listener's bandwidth_limit filters, disabled
// until a route's per-route config enables one.
func bandwidthFilters(p *port) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	for _, d := range []struct {
		on   bool
		name string
	}{{p.bandwidthRequest, bandwidthRequestFilter}, {p.bandwidthResponse, bandwidthResponseFilter}} {
		if !d.on {
			continue
		}
		out = append(out, &hcmv3.HttpFilter{
			Name: d.name,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&bwlimitv3.BandwidthLimit{
				StatPrefix: bandwidthStatPrefix,
				EnableMode: bwlimitv3.BandwidthLimit_DISABLED,
			})},
			Disabled: true,
		})
	}
	return out
}
