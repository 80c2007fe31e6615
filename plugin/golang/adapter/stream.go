package adapter

import (
	"strings"
	"sync"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// streamFilter is one request's api.StreamFilter: it hands each callback to
// the engine's Stream and performs the Action that comes back. Everything a
// request needs lives in this one object, which is reused (filters) once
// Envoy destroyed the stream, unless a goroutine of it may still run.
type streamFilter struct {
	cb api.FilterCallbackHandler

	// mu serialises the engine's Stream: Envoy runs decode and encode
	// callbacks on its worker thread, but a fault delay resumes from a
	// goroutine, and Envoy may encode a reply (a timeout, another filter's
	// local reply) while that goroutine runs.
	mu      sync.Mutex
	s       filter.Stream
	req     requestView
	resp    responseView
	holding bool        // we returned a stop status on the request: Envoy holds headers/body
	delay   *time.Timer // the outstanding fault delay, if any
	// ended: Envoy completed or destroyed the stream; a late timer or
	// goroutine must not call back into it.
	ended bool
	// async: a goroutine of this stream (delay timer, resume) was started;
	// the filter is then left to the GC instead of being reused.
	async bool
}

// filters holds streamFilters whose streams Envoy destroyed, so a request
// allocates none.
var filters = sync.Pool{New: func() any { return new(streamFilter) }}

// inert is every request's filter on a route whose config enforces
// nothing: each callback passes the request on without touching it.
var inert = &api.PassThroughStreamFilter{}

// NewStreamFilter is the api.StreamFilterFactory: one filter per request.
func NewStreamFilter(cfg any, cb api.FilterCallbackHandler) api.StreamFilter {
	c, ok := cfg.(*filter.Config)
	if !ok {
		if c, ok := cfg.(*invalidConfig); ok {
			return &invalidFilter{cfg: c, cb: cb}
		}
	}
	if c.Inert() {
		return inert
	}
	f := filters.Get().(*streamFilter)
	f.cb = cb
	f.req.cb, f.resp.cb = cb, cb
	f.s.Init(c)
	return f
}

func (f *streamFilter) DecodeHeaders(h api.RequestHeaderMap, endStream bool) (st api.StatusType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.recoverCallback(&st, f.cb.DecoderFilterCallbacks())
	f.req.h = h
	f.req.seen = 0
	a := f.s.OnRequestHeaders(&f.req, endStream)
	return f.decodeAction(a, endStream)
}

func (f *streamFilter) DecodeData(buf api.BufferInstance, endStream bool) (st api.StatusType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.recoverCallback(&st, f.cb.DecoderFilterCallbacks())
	// With StopAndBufferWatermark Envoy keeps earlier chunks itself and hands
	// over only the new one, so buf.Len() is this chunk's size.
	a := f.s.OnRequestBody(buf.Len(), endStream)
	return f.decodeAction(a, endStream)
}

func (f *streamFilter) DecodeTrailers(t api.RequestTrailerMap) (st api.StatusType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dec := f.cb.DecoderFilterCallbacks()
	defer f.recoverCallback(&st, dec)
	a := f.s.OnRequestTrailers()
	if a.Kind == filter.SendReply {
		f.sendReply(dec, a.Reply)
		return api.LocalReply
	}
	if f.holding {
		// Envoy's golang filter forwards the body it holds for us only when
		// trailers are continued asynchronously; a synchronous Continue here
		// would pass the trailers and strand the body.
		f.async = true
		go f.resume(dec, api.Continue)
		return api.Running
	}
	return api.Continue
}

func (f *streamFilter) EncodeHeaders(h api.ResponseHeaderMap, endStream bool) (st api.StatusType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	enc := f.cb.EncoderFilterCallbacks()
	defer f.recoverCallback(&st, enc)
	// Each read of the response is a call into Envoy: make only those a
	// route's config needs. No x-ratelimit-* due and no override: nothing;
	// an override alone: :status, then the engine only if it may match.
	l := f.s.Later()
	if l&(filter.LaterResponse|filter.LaterOverride) == 0 {
		return api.Continue
	}
	status := 0
	ranges, anyStatus := f.s.Config().OverrideStatuses()
	if anyStatus || len(ranges) > 0 {
		status = responseStatus(h)
		if l&filter.LaterResponse == 0 && !anyStatus && !inRanges(ranges, status) {
			return api.Continue
		}
	}
	f.resp.h = h
	a := f.s.OnResponseHeaders(status, &f.resp)
	f.resp.h = nil
	if a.Kind == filter.SendReply {
		f.sendReply(enc, a.Reply)
		return api.LocalReply
	}
	return api.Continue
}

func (f *streamFilter) EncodeData(api.BufferInstance, bool) api.StatusType { return api.Continue }
func (f *streamFilter) EncodeTrailers(api.ResponseTrailerMap) api.StatusType {
	return api.Continue
}

func (f *streamFilter) OnLog(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}
func (f *streamFilter) OnLogDownstreamStart(api.RequestHeaderMap) {}
func (f *streamFilter) OnLogDownstreamPeriodic(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}

// OnStreamComplete releases rate-limit state (a response cost). It passes
// no attempt count: the retry budget is Envoy's cluster's, not the
// engine's, so nothing reads it. A
// stream can complete during a fault delay (the route timeout or the client
// ended it): the delay is then dropped.
func (f *streamFilter) OnStreamComplete() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.end()
	defer f.recoverQuietly()
	f.s.OnStreamComplete(0)
}

// OnDestroy stops a pending fault delay: its goroutine must not call back
// into a stream Envoy has already torn down. Envoy calls the filter no more
// after it (the SDK drops its reference), so unless a goroutine of the
// stream was started, the filter is reused.
func (f *streamFilter) OnDestroy(api.DestroyReason) {
	f.mu.Lock()
	f.end()
	f.req.h = nil
	reuse := !f.async
	f.mu.Unlock()
	if reuse {
		f.s.Init(nil)
		f.cb, f.req, f.resp = nil, requestView{}, responseView{}
		f.holding, f.ended = false, false
		filters.Put(f)
	}
}

func (f *streamFilter) end() {
	f.ended = true
	if f.delay != nil {
		f.delay.Stop()
		f.delay = nil
	}
}

// decodeAction performs an engine Action in a synchronous decode callback.
func (f *streamFilter) decodeAction(a filter.Action, endStream bool) api.StatusType {
	switch a.Kind {
	case filter.SendReply:
		f.sendReply(f.cb.DecoderFilterCallbacks(), a.Reply)
		return api.LocalReply
	case filter.Delay:
		f.async = true
		f.delay = time.AfterFunc(a.Delay, f.delayDone)
		return api.Running
	case filter.StopAndBuffer:
		if endStream {
			return api.Continue // nothing more will come; the SDK forbids a stop here
		}
		// Not api.StopAndBuffer: with it Envoy collects the whole body before
		// Go sees any of it, so the limit could only be checked at the end.
		// StopAndBufferWatermark hands each chunk over as it arrives while
		// Envoy keeps the earlier ones, and a body over the limit is refused
		// as soon as it passes it.
		f.holding = true
		return api.StopAndBufferWatermark
	}
	return api.Continue
}

// delayDone runs on the timer's goroutine when a fault delay ends: it asks
// the engine what follows and resumes (or answers) the request.
func (f *streamFilter) delayDone() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.delay = nil
	f.req.seen = 0 // values read in an earlier callback are not relied on
	dec := f.cb.DecoderFilterCallbacks()
	defer f.recoverAsync(dec)
	a := f.s.OnDelayDone(&f.req)
	switch a.Kind {
	case filter.SendReply:
		f.sendReply(dec, a.Reply)
	case filter.Delay: // the engine asks for one delay per request; honour another all the same
		f.delay = time.AfterFunc(a.Delay, f.delayDone)
	case filter.StopAndBuffer:
		f.holding = true
		dec.Continue(api.StopAndBufferWatermark)
	default:
		dec.Continue(api.Continue)
	}
}

// resume continues the request from a goroutine (see DecodeTrailers).
func (f *streamFilter) resume(dec api.DecoderFilterCallbacks, st api.StatusType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	defer f.recoverAsync(dec)
	dec.Continue(st)
}

// sendReply answers the request with an engine Reply. Envoy shapes the reply
// for gRPC requests itself (HTTP 200, grpc-status, grpc-message = body) and
// ignores grpcStatus for the rest.
func (f *streamFilter) sendReply(cb api.FilterProcessCallbacks, r *filter.Reply) {
	var headers map[string][]string
	if n := len(r.Headers); n > 0 || r.ContentType != "" {
		headers = make(map[string][]string, n+1)
		for _, kv := range r.Headers {
			headers[kv[0]] = append(headers[kv[0]], strings.Clone(kv[1]))
		}
		if r.ContentType != "" && r.GRPCStatus < 0 {
			headers["content-type"] = []string{r.ContentType}
		}
	}
	grpcStatus := int64(r.GRPCStatus)
	if grpcStatus < 0 {
		// The golang filter turns -1 into grpc-status: -1 rather than
		// Envoy's own default, so pass that default explicitly.
		grpcStatus = int64(filter.GRPCStatusForHTTP(r.Status))
	}
	cb.SendLocalReply(r.Status, r.Body, headers, grpcStatus, r.Details)
}

// recoverCallback turns a panic in this adapter's own code during an Envoy
// callback into the engine's 500 reply (the engine guards its own). It must
// be deferred directly: recover only works there.
func (f *streamFilter) recoverCallback(st *api.StatusType, cb api.FilterProcessCallbacks) {
	v := recover()
	if v == nil {
		return
	}
	filter.LogPanic(f.log, " in the golang host", v)
	*st = api.LocalReply
	defer f.recoverQuietly()
	f.sendReply(cb, filter.PanicReply())
}

// recoverAsync is recoverCallback for goroutines: no status to return, the
// reply is the only way to end the request. If the stream is gone already
// (the client left), the SDK's own panic about it is only logged.
func (f *streamFilter) recoverAsync(cb api.FilterProcessCallbacks) {
	v := recover()
	if v == nil {
		return
	}
	filter.LogPanic(f.log, " in the golang host", v)
	if f.ended {
		return
	}
	defer f.recoverQuietly()
	f.sendReply(cb, filter.PanicReply())
}

func (f *streamFilter) recoverQuietly() {
	if v := recover(); v != nil {
		filter.LogPanic(f.log, " in the golang host", v)
	}
}

func (f *streamFilter) log(msg string) { f.cb.Log(api.Error, msg) }
