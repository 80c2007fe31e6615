package filter

// timeout.http.requestTimeout: the router's whole-request timeout, sent as
// x-envoy-upstream-rq-timeout-ms so it holds per route even when the
// rendered route has another value.
func (s *Stream) timeoutHeaders(req Request) {
	if t := s.cfg.c.Timeout; t != nil && t.RequestTimeoutMS != "" {
		req.SetHeader("x-envoy-upstream-rq-timeout-ms", t.RequestTimeoutMS)
	}
}
