package policy

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// translationIssue is a problem Envoy Gateway's translator (not its CRD)
// finds in a BackendTrafficPolicy: the policy is then reported
// Accepted=False/Invalid with "<feature>: <message>", as Envoy Gateway words
// it, and btp reports the field path.
type translationIssue struct {
	field, feature, msg string
	// status, when set, is Envoy Gateway's wording where it differs from
	// msg (which may add what is allowed).
	status string
}

// statusMessage is the issue as Envoy Gateway words it in the Invalid
// condition, before capitalisation.
func (is translationIssue) statusMessage() string {
	if is.status != "" {
		return is.feature + ": " + is.status
	}
	return is.feature + ": " + is.msg
}

// maxTableSize is Envoy's Maglev table size limit.
const maxTableSize = 5000011

// checkTranslation runs the checks of Envoy Gateway's BackendTrafficPolicy
// translator that its CRD does not express, feature by feature in the order
// its buildTrafficFeatures takes them (so a status listing several problems
// lists them in Envoy Gateway's order). Some repeat a CRD check (a negative
// circuit breaker limit, a malformed duration): Envoy Gateway's test inputs
// skip the API server, and the status then carries the translator's words.
func checkTranslation(s *egv1a1.BackendTrafficPolicySpec) []translationIssue {
	var out []translationIssue
	add := func(field, feature, format string, args ...any) {
		out = append(out, translationIssue{field: field, feature: feature, msg: fmt.Sprintf(format, args...)})
	}
	checkRateLimit(s, add)
	checkBandwidthLimit(s.BandwidthLimit, add)
	if lb := s.LoadBalancer; lb != nil && lb.ConsistentHash != nil && lb.ConsistentHash.TableSize != nil {
		if n := *lb.ConsistentHash.TableSize; n > maxTableSize || !big.NewInt(int64(n)).ProbablyPrime(0) {
			out = append(out, translationIssue{field: "spec.loadBalancer.consistentHash.tableSize", feature: "LoadBalancer",
				msg:    fmt.Sprintf("invalid TableSize value %d: allowed a prime number up to %d", n, maxTableSize),
				status: fmt.Sprintf("ConsistentHash: invalid TableSize value %d", n)})
		}
	}
	if cb := s.CircuitBreaker; cb != nil {
		// Envoy Gateway stops at the first limit that is no uint32.
		for _, l := range []struct {
			field, name string
			v           *int64
		}{
			{"maxConnections", "MaxConnections", cb.MaxConnections},
			{"maxParallelRequests", "MaxParallelRequests", cb.MaxParallelRequests},
			{"maxPendingRequests", "MaxPendingRequests", cb.MaxPendingRequests},
			{"maxParallelRetries", "MaxParallelRetries", cb.MaxParallelRetries},
			{"maxRequestsPerConnection", "MaxRequestsPerConnection", cb.MaxRequestsPerConnection},
		} {
			if l.v != nil && (*l.v < 0 || *l.v > math.MaxUint32) {
				add("spec.circuitBreaker."+l.field, "CircuitBreaker", "invalid %s value %d", l.name, *l.v)
				break
			}
		}
	}
	if ka := s.TCPKeepalive; ka != nil {
		badDuration("spec.tcpKeepalive.idleTime", "TCPKeepalive", "IdleTime", ka.IdleTime, add)
		badDuration("spec.tcpKeepalive.interval", "TCPKeepalive", "Interval", ka.Interval, add)
	}
	if r := s.Retry; r != nil && r.PerRetry != nil && r.PerRetry.BackOff != nil {
		bo := r.PerRetry.BackOff
		base, max := parseDuration(bo.BaseInterval), parseDuration(bo.MaxInterval)
		const at = "spec.retry.perRetry.backOff."
		if base != nil && *base == 0 {
			add(at+"baseInterval", "Retry", "baseInterval cannot be set to 0s")
		}
		if max != nil && *max == 0 {
			add(at+"maxInterval", "Retry", "maxInterval cannot be set to 0s")
		}
		if base != nil && max != nil && *max != 0 && *base > *max {
			add(at+"maxInterval", "Retry", "maxInterval cannot be less than baseInterval")
		}
	}
	if to := s.Timeout; to != nil {
		if to.TCP != nil {
			badDuration("spec.timeout.tcp.connectTimeout", "Timeout", "ConnectTimeout", to.TCP.ConnectTimeout, add)
		}
		if h := to.HTTP; h != nil {
			badDuration("spec.timeout.http.connectionIdleTimeout", "Timeout", "ConnectionIdleTimeout", h.ConnectionIdleTimeout, add)
			badDuration("spec.timeout.http.maxConnectionDuration", "Timeout", "MaxConnectionDuration", h.MaxConnectionDuration, add)
			badDuration("spec.timeout.http.requestTimeout", "Timeout", "RequestTimeout", h.RequestTimeout, add)
			badDuration("spec.timeout.http.maxStreamDuration", "Timeout", "MaxStreamDuration", h.MaxStreamDuration, add)
			badDuration("spec.timeout.http.streamIdleTimeout", "Timeout", "StreamIdleTimeout", h.StreamIdleTimeout, add)
		}
	}
	if c := s.Connection; c != nil && c.BufferLimit != nil {
		n, ok := c.BufferLimit.AsInt64()
		switch {
		case !ok:
			add("spec.connection.bufferLimit", "BackendConnection", "invalid BufferLimit value %s", c.BufferLimit.String())
		case n < 0 || n > math.MaxUint32:
			add("spec.connection.bufferLimit", "BackendConnection", "BufferLimit value %s is out of range", c.BufferLimit.String())
		}
	}
	if rb := s.RequestBuffer; rb != nil {
		if n, ok := rb.Limit.AsInt64(); !ok || n < 0 || n > math.MaxUint32 {
			add("spec.requestBuffer.limit", "RequestBuffer", "limit value %s is out of range, must be between 0 and %d", rb.Limit.String(), uint32(math.MaxUint32))
		}
	}
	return out
}

// checkBandwidthLimit is Envoy Gateway's buildBandwidthLimit: a limit must
// come to at least 1 KiB/s (Envoy's unit); it stops at the first direction
// that does not.
func checkBandwidthLimit(b *egv1a1.BandwidthLimitSpec, add func(field, feature, format string, args ...any)) {
	if b == nil {
		return
	}
	for _, d := range []struct {
		dir string
		l   *egv1a1.BandwidthLimitValue
	}{{"request", bandwidthValue(b.Request != nil, func() egv1a1.BandwidthLimitValue { return b.Request.Limit })},
		{"response", bandwidthValue(b.Response != nil, func() egv1a1.BandwidthLimitValue { return b.Response.Limit })}} {
		if d.l == nil {
			continue
		}
		n, ok := d.l.Value.AsInt64()
		per := map[egv1a1.BandwidthLimitUnit]int64{egv1a1.BandwidthLimitUnitMinute: 60, egv1a1.BandwidthLimitUnitHour: 3600}[d.l.Unit]
		if per == 0 {
			per = 1
		}
		field := "spec.bandwidthLimit." + d.dir + ".limit.value"
		switch {
		case !ok:
			add(field, "BandwidthLimit", "%s limit value must be convertible to an int64", d.dir)
		case n < 0:
			add(field, "BandwidthLimit", "%s limit value must be positive", d.dir)
		case n/(per*1024) == 0:
			add(field, "BandwidthLimit", "%s: bandwidth limit of %d bytes per %s is below the minimum of 1 KiB/s", d.dir, n, d.l.Unit)
		default:
			continue
		}
		return
	}
}

func bandwidthValue(set bool, get func() egv1a1.BandwidthLimitValue) *egv1a1.BandwidthLimitValue {
	if !set {
		return nil
	}
	v := get()
	return &v
}

// badDuration is the translator's check of one duration field.
func badDuration(field, feature, name string, d *gwapiv1.Duration, add func(field, feature, format string, args ...any)) {
	if d == nil {
		return
	}
	if _, err := time.ParseDuration(string(*d)); err != nil {
		add(field, feature, "invalid %s value %s", name, *d)
	}
}

func checkRateLimit(s *egv1a1.BackendTrafficPolicySpec, add func(field, feature, format string, args ...any)) {
	rl := s.RateLimit
	if rl == nil {
		return
	}
	if rl.Type != nil && *rl.Type == egv1a1.LocalRateLimitType && rl.Local == nil {
		add("spec.rateLimit.local", "RateLimit", "local configuration empty for rateLimit")
	}
	if rl.Type != nil && *rl.Type == egv1a1.GlobalRateLimitType && rl.Global == nil {
		add("spec.rateLimit.global", "RateLimit", "global configuration empty for rateLimit")
	}
	if rl.Local != nil {
		checkLocalRules(rl.Local.Rules, add)
		for i := range rl.Local.Rules {
			checkSelectors(fmt.Sprintf("spec.rateLimit.local.rules[%d]", i), &rl.Local.Rules[i], add)
		}
	}
	if rl.Global != nil {
		for i := range rl.Global.Rules {
			checkSelectors(fmt.Sprintf("spec.rateLimit.global.rules[%d]", i), &rl.Global.Rules[i], add)
		}
	}
}

// checkLocalRules: Envoy's local rate limit takes the one rule without
// clientSelectors as the route's default bucket, and every rule's unit must
// be a multiple of that bucket's unit.
func checkLocalRules(rules []egv1a1.RateLimitRule, add func(field, feature, format string, args ...any)) {
	def := unitSeconds(egv1a1.RateLimitUnitSecond)
	found := false
	for i, r := range rules {
		if len(r.ClientSelectors) > 0 {
			continue
		}
		if found {
			add(fmt.Sprintf("spec.rateLimit.local.rules[%d]", i), "RateLimit", "local rateLimit can not have more than one rule without clientSelectors")
			continue
		}
		found, def = true, unitSeconds(r.Limit.Unit)
	}
	for i, r := range rules {
		// An unknown unit (0 seconds) is the schema's error to report.
		if u := unitSeconds(r.Limit.Unit); def != 0 && u != 0 && u%def != 0 {
			add(fmt.Sprintf("spec.rateLimit.local.rules[%d].limit.unit", i), "RateLimit", "local rateLimit rule limit unit must be a multiple of the default limit unit")
		}
	}
}

func unitSeconds(u egv1a1.RateLimitUnit) int64 {
	return map[egv1a1.RateLimitUnit]int64{
		egv1a1.RateLimitUnitSecond: 1, egv1a1.RateLimitUnitMinute: 60, egv1a1.RateLimitUnitHour: 3600,
		egv1a1.RateLimitUnitDay: 86400, egv1a1.RateLimitUnitWeek: 7 * 86400, egv1a1.RateLimitUnitMonth: 30 * 86400,
		egv1a1.RateLimitUnitYear: 365 * 86400,
	}[u]
}

// checkSelectors mirrors the translator's client selector checks.
func checkSelectors(at string, r *egv1a1.RateLimitRule, add func(field, feature, format string, args ...any)) {
	badRegex := func(field, re string) {
		if _, err := regexp.Compile(re); err != nil {
			add(field, "RateLimit", "regex %q is invalid: %v", re, err)
		}
	}
	for j, sel := range r.ClientSelectors {
		sp := fmt.Sprintf("%s.clientSelectors[%d]", at, j)
		for k, h := range sel.Headers {
			hp := fmt.Sprintf("%s.headers[%d]", sp, k)
			t := egv1a1.HeaderMatchExact
			if h.Type != nil {
				t = *h.Type
			}
			switch {
			case t == egv1a1.HeaderMatchExact && h.Value != nil:
			case t == egv1a1.HeaderMatchRegularExpression && h.Value != nil:
				badRegex(hp+".value", *h.Value)
			case t == egv1a1.HeaderMatchDistinct && h.Value == nil:
				if h.Invert != nil && *h.Invert {
					add(hp+".invert", "RateLimit", "unable to translate rateLimit.Invert is not applicable for distinct header match type")
				}
			default:
				add(hp, "RateLimit", "unable to translate rateLimit. Either the header.Type is not valid or the header is missing a value")
			}
		}
		if p := sel.Path; p != nil && p.Type != nil && *p.Type == gwapiv1.PathMatchRegularExpression {
			badRegex(sp+".path.value", p.Value)
		}
		if c := sel.SourceCIDR; c != nil {
			if _, _, err := net.ParseCIDR(c.Value); err != nil {
				add(sp+".sourceCIDR.value", "RateLimit", "unable to translate rateLimit: %v", err)
			}
		}
		for k, q := range sel.QueryParams {
			qp := fmt.Sprintf("%s.queryParams[%d]", sp, k)
			t := egv1a1.QueryParamMatchExact
			if q.Type != nil {
				t = *q.Type
			}
			switch t {
			case egv1a1.QueryParamMatchExact, egv1a1.QueryParamMatchRegularExpression:
				if q.Value == nil || *q.Value == "" {
					add(qp+".value", "RateLimit", "value is required for %s query parameter match", t)
				} else if t == egv1a1.QueryParamMatchRegularExpression {
					badRegex(qp+".value", *q.Value)
				}
			case egv1a1.QueryParamMatchDistinct:
				if q.Invert != nil && *q.Invert {
					add(qp+".invert", "RateLimit", "unable to translate rateLimit.Invert is not applicable for distinct query parameter match type")
				}
				if q.Value != nil {
					add(qp+".value", "RateLimit", "unable to translate rateLimit.Value is not applicable for distinct query parameter match type")
				}
			}
		}
	}
}

func parseDuration(d *gwapiv1.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil {
		return nil // the schema's pattern reports it
	}
	return &v
}
