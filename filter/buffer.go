package filter

import "strconv"

// requestBuffer: the whole body is held before anything goes upstream; a
// body over the limit is refused with 413 as soon as that is known (from
// Content-Length at headers time, or as the streamed body passes it).

var tooLargeReply = &Reply{Status: 413, GRPCStatus: -1, Body: "request body too large\n", ContentType: "text/plain", Details: "btp_request_body_too_large"}

// badLengthReply refuses a Content-Length that is no decimal number (as
// RFC 9112 asks: 400); gRPC gets INTERNAL, Envoy's mapping of 400.
var badLengthReply = &Reply{Status: 400, GRPCStatus: -1, Body: "invalid content-length\n", ContentType: "text/plain", Details: "btp_invalid_content_length"}
var badLengthGRPC = &Reply{Status: 400, GRPCStatus: 13, Body: "invalid content-length", Details: "btp_invalid_content_length"}

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
	// Envoy's HTTP/1 codec answers 400 to a Content-Length that is not a
	// number below 2^64, but 2^63..2^64-1 reach the filter, and over HTTP/2
	// any value does (e2e/contentlength_test.go): decide them all here,
	// rather than holding the stream for a body that may never come.
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err == nil && n <= uint64(b.Limit):
		return Action{}, false
	case err == nil || allDigits(v): // over the limit, or over 2^64
		return s.tooLarge(), true
	}
	s.cfg.inc(BufferInvalidLength)
	if s.grpc > 0 {
		return s.localReply(badLengthGRPC), true
	}
	return s.localReply(badLengthReply), true
}

func allDigits(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
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
