package filter

import (
	"time"

	"github.com/envoy-btp/envoy-btp/config"
)

// faultInjection: a delay (fixedDelay, percentage) the host performs
// without blocking a worker, then an abort (httpStatus or grpcStatus,
// percentage). Draws come from Options.Rand so tests are exact.

const faultAbortBody = "fault filter abort"

// faultReplies are the abort replies, built once per config.
type faultReplies struct {
	plain *Reply // plain HTTP requests
	grpc  *Reply // gRPC requests
}

func newFaultReplies(f *config.FaultPlan) *faultReplies {
	if !f.HasAbort {
		return nil
	}
	fr := &faultReplies{}
	httpStatus, grpcStatus := f.AbortHTTP, f.AbortGRPC
	if grpcStatus >= 0 {
		httpStatus = grpcToHTTP(grpcStatus)
	} else {
		grpcStatus = GRPCStatusForHTTP(httpStatus)
	}
	fr.plain = &Reply{Status: httpStatus, GRPCStatus: -1, Body: faultAbortBody, ContentType: "text/plain", Details: "fault_filter_abort"}
	fr.grpc = &Reply{Status: httpStatus, GRPCStatus: grpcStatus, Body: faultAbortBody, Details: "fault_filter_abort"}
	return fr
}

// hit draws once and reports whether it falls under threshold.
func (s *Stream) hit(threshold uint64) bool {
	if threshold >= config.Always {
		return true
	}
	if threshold == 0 {
		return false
	}
	return uint64(s.cfg.opts.Rand()) < threshold
}

func (s *Stream) faultDelay() (time.Duration, bool) {
	f := s.cfg.c.Fault
	if f == nil || !f.HasDelay || f.Delay <= 0 || !s.hit(f.DelayThreshold) {
		return 0, false
	}
	s.cfg.inc(FaultDelays)
	return f.Delay, true
}

func (s *Stream) faultAbort(req Request) (Action, bool) {
	f := s.cfg.c.Fault
	if f == nil || !f.HasAbort || !s.hit(f.AbortThreshold) {
		return Action{}, false
	}
	s.cfg.inc(FaultAborts)
	if s.isGRPC(req) {
		return s.localReply(s.cfg.fault.grpc), true
	}
	return s.localReply(s.cfg.fault.plain), true
}

// GRPCStatusForHTTP and grpcToHTTP follow Envoy's Grpc::Utility mappings, so
// a gRPC client sees what Envoy's own fault filter would send. Hosts use
// GRPCStatusForHTTP for local replies whose SDK needs the gRPC status spelled
// out.
func GRPCStatusForHTTP(status int) int {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

func grpcToHTTP(code int) int {
	switch code {
	case 0:
		return 200
	case 1:
		return 499
	case 3, 9, 11:
		return 400
	case 4:
		return 504
	case 5:
		return 404
	case 6, 10:
		return 409
	case 7:
		return 403
	case 8:
		return 429
	case 12:
		return 501
	case 14:
		return 503
	case 16:
		return 401
	}
	return 500 // UNKNOWN, INTERNAL, DATA_LOSS
}
