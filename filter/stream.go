package filter

import (
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/envoy-btp/envoy-btp/config"
)

// Stream is the engine's state for one request. The zero value is unusable;
// get one from Config.NewStream or embed one and call Init.
type Stream struct {
	cfg *Config

	replied   bool // the engine answered locally; later callbacks are no-ops
	failed    bool // a panic was recovered; later callbacks are no-ops
	delaying  bool // a Delay action is outstanding
	buffering bool // requestBuffer holds the body until it is complete
	grpc      int8 // 0 unknown, 1 gRPC request, -1 not gRPC
	reqEnd    bool // the request headers ended the request

	bodyBytes int64

	rl rlState // rate limit outcome, for the response headers and response cost

	scratch [48]byte  // header values formatted here (see package doc)
	qbuf    [128]byte // a percent-decoded query parameter (rate limit matching)

	captured *capturedRequest // request values override formats read; nil if none
}

// NewStream starts a stream under this config.
func (c *Config) NewStream() *Stream {
	s := &Stream{}
	s.Init(c)
	return s
}

// Init (re)starts s under cfg, for hosts that embed a Stream.
func (s *Stream) Init(cfg *Config) {
	*s = Stream{cfg: cfg}
}

// Config is the config the stream runs under (nil before Init).
func (s *Stream) Config() *Config { return s.cfg }

func (s *Stream) done() bool { return s.replied || s.failed || s.cfg == nil }

// OnRequestHeaders decides on the request's headers. req must stay usable
// for this call only.
func (s *Stream) OnRequestHeaders(req Request, endStream bool) (a Action) {
	defer s.guard(&a)
	if s.done() {
		return Action{}
	}
	c := s.cfg.c
	if c.Debug != nil && c.Debug.PanicHeader != "" {
		if _, ok := req.Header(c.Debug.PanicHeader); ok {
			panic("btp: debug.panicHeader " + c.Debug.PanicHeader + " present")
		}
	}
	s.reqEnd = endStream
	s.buffering = !endStream && c.Buffer != nil
	if len(s.cfg.over) != 0 {
		s.isGRPC(req) // an override of a gRPC request's response is gRPC-shaped
		if n := s.cfg.over[0].needs; n != nil {
			s.captureRequest(req, n)
		}
	}
	if d, ok := s.faultDelay(); ok {
		s.delaying = true
		return Action{Kind: Delay, Delay: d}
	}
	return s.afterDelay(req)
}

// OnDelayDone continues the request after a Delay action's timer fired.
// req is the same request (hosts may pass a fresh view of it).
func (s *Stream) OnDelayDone(req Request) (a Action) {
	defer s.guard(&a)
	if s.done() || !s.delaying {
		return Action{}
	}
	s.delaying = false
	return s.afterDelay(req)
}

// afterDelay runs the request-phase rules that follow the fault delay, in
// Envoy Gateway's filter order: fault abort, buffer, local rate limit, then
// the router's retry and timeout headers.
func (s *Stream) afterDelay(req Request) Action {
	if a, ok := s.faultAbort(req); ok {
		return a
	}
	if a, ok := s.bufferHeaders(req); ok {
		return a
	}
	var now int64 // one clock read serves every rule: reads are not free
	if s.cfg.limiter != nil {
		now = s.cfg.opts.Now()
	}
	if a, ok := s.rateLimitMatch(req, now); ok {
		return a
	}
	s.retryHeaders(req)
	s.timeoutHeaders(req)
	if s.buffering {
		return Action{Kind: StopAndBuffer}
	}
	return Action{}
}

// OnRequestBody is called for each request body chunk of n bytes.
func (s *Stream) OnRequestBody(n int, endStream bool) (a Action) {
	defer s.guard(&a)
	if s.done() {
		return Action{}
	}
	return s.bufferBody(n, endStream)
}

// OnRequestTrailers is called when request trailers arrive (the body is
// then complete).
func (s *Stream) OnRequestTrailers() (a Action) {
	defer s.guard(&a)
	if s.done() {
		return Action{}
	}
	return s.bufferBody(0, true)
}

// OnResponseHeaders decides on the upstream response: it adds the
// x-ratelimit-* headers, and may replace the response (responseOverride).
// It does nothing for the engine's own local replies: those met the
// override before they were sent.
func (s *Stream) OnResponseHeaders(status int, resp ResponseHeaders) (a Action) {
	defer s.guard(&a)
	if s.done() {
		return Action{}
	}
	if a, ok := s.override(status, resp); ok {
		return a
	}
	s.rateLimitResponseHeaders(resp)
	return Action{}
}

// OnStreamComplete ends the stream. attempts is the number of upstream
// attempts Envoy made, or 0; the engine no longer uses it (it fed the
// filter's own retry budget, which is now Envoy's alone) and hosts may pass
// 0. Call it exactly once, also for streams the engine answered locally.
func (s *Stream) OnStreamComplete(attempts int) {
	var a Action
	defer s.guard(&a)
	if s.cfg == nil || s.failed {
		return
	}
	s.rateLimitComplete()
}

// reply marks the stream answered and returns the action for r.
func (s *Stream) reply(r *Reply) Action {
	s.replied = true
	return Action{Kind: SendReply, Reply: r}
}

// isGRPC reports whether the request is gRPC (content-type application/grpc
// or application/grpc+proto etc.), fetching the header at most once.
func (s *Stream) isGRPC(req Request) bool {
	if s.grpc == 0 {
		s.grpc = -1
		if v, ok := req.Header("content-type"); ok && len(v) >= 16 && v[:16] == "application/grpc" &&
			(len(v) == 16 || v[16] == '+' || v[16] == ';') {
			s.grpc = 1
		}
	}
	return s.grpc > 0
}

// fmtInt formats n into the scratch buffer at offset off (24 bytes each)
// and returns a string that aliases it; hosts copy header values.
func (s *Stream) fmtInt(off int, n int64) string {
	b := strconv.AppendInt(s.scratch[off:off:off+24], n, 10)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// mergeCache memoizes Merge per parent, so a host may call Merge on every
// request without building state twice. last is the fast path (one parent
// per route is the common case); all holds every parent seen, so a route
// config shared by two listeners keeps one merged config per listener.
type mergeCache struct {
	last atomic.Pointer[mergeEntry]
	all  sync.Map // *Config (parent) -> *Config (merged)
}

type mergeEntry struct {
	parent, merged *Config
}

// Merge returns the config for a route whose per-route config is child
// under filter-level defaults parent (route features override). The result
// is built once per (parent, child) and cached in child; non-shared rate
// limits inherited from parent get per-route state.
func Merge(parent, child *Config) *Config {
	switch {
	case parent == nil:
		return child
	case child == nil:
		return parent
	}
	if e := child.merged.last.Load(); e != nil && e.parent == parent {
		return e.merged
	}
	if m, ok := child.merged.all.Load(parent); ok {
		child.merged.last.Store(&mergeEntry{parent: parent, merged: m.(*Config)})
		return m.(*Config)
	}
	opts := parent.opts
	if opts.Stats == nil {
		opts.Stats = child.opts.Stats
	}
	m := &Config{c: config.Merge(parent.c, child.c), opts: opts}
	if child.c.RateLimit != nil {
		m.limiter = child.limiter
	} else if m.c.RateLimit != nil {
		// The parent's rules, with this route's own state: found again
		// when the route's config is parsed again.
		route := routeOf(child.c)
		if route != "" {
			route += "\x00inherited"
		}
		m.limiter = newLimiter(m.c.RateLimit, &m.opts, route)
	}
	if child.c.Fault != nil {
		m.fault = child.fault
	} else {
		m.fault = parent.fault
	}
	if child.c.Overrides != nil {
		m.over = child.over
	} else {
		m.over = parent.over
	}
	m.overStatus, m.overAny = overrideStatuses(m.over)
	m.inert = inertPolicy(m.c)
	// Racing first requests must all get the same merged config (one set
	// of per-route buckets), so only one build is published.
	got, _ := child.merged.all.LoadOrStore(parent, m)
	child.merged.last.Store(&mergeEntry{parent: parent, merged: got.(*Config)})
	return got.(*Config)
}

// Later is a set of the callbacks that can still matter to a stream.
type Later uint8

const (
	// LaterBody: OnRequestBody and OnRequestTrailers (the body is held or
	// counted against requestBuffer).
	LaterBody Later = 1 << iota
	// LaterResponse: OnResponseHeaders (an override may match, or
	// x-ratelimit-* headers are due).
	LaterResponse
	// LaterComplete: OnStreamComplete (a rate limit's response cost).
	LaterComplete
	// LaterOverride: OnResponseHeaders, for a response whose status a
	// responseOverride may match (Config.OverrideStatuses); others need no
	// call. Set instead of LaterResponse when nothing else is due there.
	LaterOverride
)

// Later reports which of the remaining callbacks can change anything for
// this stream, as of now. A host whose every callback crosses from Envoy
// into Go may skip the others: a route with no policy then costs one
// crossing per request. It changes only inside the engine's calls, so
// asking after each call is enough.
func (s *Stream) Later() Later {
	if s.cfg == nil || s.failed {
		return 0
	}
	var l Later
	if !s.replied {
		if s.buffering || s.delaying || s.rl.pending {
			l |= LaterBody
		}
		rlHeaders := (s.rl.unlimited || s.rl.hdr.rs != nil) && !s.cfg.opts.HostAddsRateLimitHeaders
		switch {
		case rlHeaders:
			l |= LaterResponse
		case len(s.cfg.over) > 0:
			l |= LaterOverride
		}
	}
	if s.rl.chargesResponse() {
		l |= LaterComplete
	}
	return l
}
