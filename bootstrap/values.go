package bootstrap

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/apimachinery/pkg/api/resource"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// duration converts a Gateway API duration ("1h30m", "250ms"), recording an
// error naming field when it is not one.
func (c *ruleCtx) duration(field string, d *gwapiv1.Duration) (*durationpb.Duration, bool) {
	v, err := time.ParseDuration(string(*d))
	if err != nil || v < 0 {
		c.fail(field, string(*d), "allowed a non-negative duration such as 250ms, 10s, 1h30m")
		return nil, false
	}
	return durationpb.New(v), true
}

// setDuration sets *dst from an optional policy duration: unset leaves the
// default in place, a bad value is recorded and leaves it too.
func (c *ruleCtx) setDuration(field string, src *gwapiv1.Duration, dst **durationpb.Duration) {
	if src == nil {
		return
	}
	if d, ok := c.duration(field, src); ok {
		*dst = d
	}
}

// seconds converts a duration to whole seconds (socket options count in
// seconds), recording an error when it is not a positive whole number.
func (c *ruleCtx) seconds(field string, d *gwapiv1.Duration) (uint32, bool) {
	v, err := time.ParseDuration(string(*d))
	if err != nil || v <= 0 || v%time.Second != 0 || v/time.Second > math.MaxInt32 {
		c.fail(field, string(*d), "allowed a positive whole number of seconds such as 75s or 2h")
		return 0, false
	}
	return uint32(v / time.Second), true
}

// bytes converts a Kubernetes quantity to a byte count that fits Envoy's
// 32-bit fields.
func (c *ruleCtx) bytes(field string, q *resource.Quantity) (uint32, bool) {
	v, ok := q.AsInt64()
	if !ok || v <= 0 || v > math.MaxUint32 {
		c.fail(field, q.String(), "allowed a positive byte size up to 4Gi such as 32768, 64Ki, 1Mi")
		return 0, false
	}
	return uint32(v), true
}

// count checks a non-negative integer field that Envoy holds in 32 bits.
func (c *ruleCtx) count(field string, v int64) (uint32, bool) {
	if v < 0 || v > math.MaxUint32 {
		c.fail(field, v, "allowed 0-4294967295")
		return 0, false
	}
	return uint32(v), true
}

// percent checks a 0-100 integer percentage.
func (c *ruleCtx) percent(field string, v int64) (float64, bool) {
	if v < 0 || v > 100 {
		c.fail(field, v, "allowed 0-100")
		return 0, false
	}
	return float64(v), true
}
