package config

import (
	"fmt"
	"math"
	"time"
)

// FaultPlan is faultInjection. Thresholds are percentages scaled to
// 1<<32: a draw r (uniform uint32) hits when uint64(r) < threshold.
type FaultPlan struct {
	Delay          time.Duration
	DelayThreshold uint64 // 0 when there is no delay
	HasDelay       bool

	HasAbort       bool
	AbortThreshold uint64
	AbortHTTP      int // 0 when the abort is gRPC
	AbortGRPC      int // -1 when the abort is HTTP
}

// Always is the threshold of a 100% percentage.
const Always = uint64(1) << 32

func percentThreshold(p *float32, path string) (uint64, error) {
	if p == nil {
		return Always, nil
	}
	v := float64(*p)
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("%s: %v out of range: allowed 0 to 100", path, *p)
	}
	return uint64(math.Round(v / 100 * float64(Always))), nil
}

func compileFault(f *FaultInjection) (*FaultPlan, error) {
	if f.Delay == nil && f.Abort == nil {
		return nil, fmt.Errorf("faultInjection: set delay, abort or both")
	}
	plan := &FaultPlan{AbortGRPC: -1}
	var err error
	if d := f.Delay; d != nil {
		if d.FixedDelay == nil {
			return nil, fmt.Errorf("faultInjection.delay.fixedDelay: required")
		}
		if plan.Delay, err = ParseDuration(*d.FixedDelay); err != nil {
			return nil, fmt.Errorf("faultInjection.delay.fixedDelay: %v", err)
		}
		if plan.DelayThreshold, err = percentThreshold(d.Percentage, "faultInjection.delay.percentage"); err != nil {
			return nil, err
		}
		plan.HasDelay = true
	}
	if a := f.Abort; a != nil {
		switch {
		case a.HTTPStatus != nil && a.GrpcStatus != nil:
			return nil, fmt.Errorf("faultInjection.abort: set one of httpStatus and grpcStatus, not both")
		case a.HTTPStatus != nil:
			if *a.HTTPStatus < 200 || *a.HTTPStatus > 599 {
				return nil, fmt.Errorf("faultInjection.abort.httpStatus: %d out of range: allowed 200 to 599", *a.HTTPStatus)
			}
			plan.AbortHTTP = int(*a.HTTPStatus)
		case a.GrpcStatus != nil:
			if *a.GrpcStatus < 0 || *a.GrpcStatus > 16 {
				return nil, fmt.Errorf("faultInjection.abort.grpcStatus: %d out of range: allowed 0 to 16", *a.GrpcStatus)
			}
			plan.AbortGRPC = int(*a.GrpcStatus)
		default:
			return nil, fmt.Errorf("faultInjection.abort: set httpStatus or grpcStatus")
		}
		if plan.AbortThreshold, err = percentThreshold(a.Percentage, "faultInjection.abort.percentage"); err != nil {
			return nil, err
		}
		plan.HasAbort = true
	}
	return plan, nil
}
