package filter

import "strconv"

// requestBuffer: the whole body is held before anything goes upstream; a
// body over the limit is refused with 413 as soon as that is known (from
// Content-Length at headers time, or as the streamed body passes it).

var tooLargeReply = &Reply{Status: 413, GRPCStatus: -1, Body: "request body too large\n", ContentType: "text/plain", Details: "btp_request_body_too_large"}

// tooLargeGRPC is the same refusal for gRPC requests (RESOURCE_EXHAUSTED,
// the status gRPC uses for a message over the size limit).
var tooLargeGRPC = &Reply{Status: 413, GRPCStatus: 8, Body: "request body too large", Details: "btp_request_body_too_large"}

func (s *Stream) bufferHeaders(req Request) (Action, bool) {
	b := s.cfg.c.Buffer
	if b == nil || s.reqEnd {
		return Action{}, false
	}
	s.isGRPC(req) // remembered for a refusal while the body streams
	v, ok := req.Header("content-length")
	if !ok {
		return Action{}, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= b.Limit {
		// A malformed Content-Length never gets this far in Envoy; the
		// streamed check below still holds the limit.
		return Action{}, false
	}
	return s.tooLarge(), true
}

func (s *Stream) tooLarge() Action {
	s.cfg.inc(BufferTooLarge)
	if s.grpc > 0 {
		return s.localReply(tooLargeGRPC)
	}
	return s.localReply(tooLargeReply)
}

func (s *Stream) bufferBody(n int, endStream bool) Action {
	b := s.cfg.c.Buffer
	if b == nil || !s.buffering {
		return Action{}
	}
	s.bodyBytes += int64(n)
	if s.bodyBytes > b.Limit {
		s.buffering = false
		return s.tooLarge()
	}
	if endStream {
		s.buffering = false
		if s.rl.pending {
			if a, ok := s.rateLimitTake(nil, s.cfg.opts.Now()); ok {
				return a
			}
		}
		return Action{}
	}
	return Action{Kind: StopAndBuffer}
}
