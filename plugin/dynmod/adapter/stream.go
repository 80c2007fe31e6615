package adapter

import (
	"time"

	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter"
)

// Stream feeds one request's callbacks to the engine's filter.Stream and
// performs its Actions through the host's Handle. Envoy calls it on one
// worker thread; the only other goroutine is a delay's timer, which merely
// asks the host to run the resume on that worker thread. A host embeds a
// Stream in its own per-request object and reuses it (Start), so a request
// allocates nothing here.
type Stream struct {
	h Handle
	f *Factory

	s    filter.Stream
	req  requestView
	resp responseView

	started  bool // the engine saw the request headers
	replied  bool // a local reply was sent; nothing more to do
	delaying bool // a delay timer is armed; the request is held
	reqEnded bool // the whole request has arrived
	timer    *time.Timer
	gen      uint64 // which request x serves: a late timer of an earlier one resumes nothing
	counts   countBuf
}

func (x *Stream) flush() { counts.flush(x.h, x.f.ids, &x.counts) }

// Start (re)starts x for a new request on Envoy's filter f.
func (x *Stream) Start(f *Factory, h Handle) {
	timer, gen := x.timer, x.gen
	*x = Stream{h: h, f: f, gen: gen + 1}
	if timer != nil {
		timer.Stop()
	}
}

// Later reports which callbacks after the current one can matter, so the
// host can answer the others without calling into Go (see filter.Later).
func (x *Stream) Later() filter.Later {
	if !x.started {
		return filter.LaterBody | filter.LaterResponse | filter.LaterComplete
	}
	l := x.s.Later()
	if x.delaying {
		l |= filter.LaterBody | filter.LaterComplete // the timer is stopped at the end
	}
	return l
}

// RateLimitHeaders are the x-ratelimit-* headers the host adds to a
// response it does not pass to OnResponseHeaders (see filter.Stream).
func (x *Stream) RateLimitHeaders(out *[3][2]string) int {
	if !x.started || x.replied {
		return 0
	}
	return x.s.RateLimitHeaders(out)
}

// OverrideStatuses are the statuses an override may match, for
// filter.LaterOverride (see filter.Config.OverrideStatuses).
func (x *Stream) OverrideStatuses() ([]config.StatusRange, bool) {
	if c := x.s.Config(); c != nil {
		return c.OverrideStatuses()
	}
	return nil, true
}

// OnRequestHeaders picks the route's config, merged over the filter-level
// defaults, and asks the engine.
func (x *Stream) OnRequestHeaders(endStream bool) (st Status) {
	defer func() {
		if x.hostPanic(recover()) {
			st = Stop
		}
	}()
	cfg := x.f.defaults
	if rc := x.h.RouteConfig(); rc != nil {
		cfg = filter.Merge(cfg, rc)
	}
	x.s.Init(cfg)
	x.started = true
	x.reqEnded = endStream
	x.req = requestView{h: x.h, hdr: x.h.RequestHeaders()}
	a := x.s.OnRequestHeaders(&x.req, endStream)
	x.flush()
	switch a.Kind {
	case filter.SendReply:
		x.reply(a.Reply)
		return Stop
	case filter.Delay:
		x.delay(a.Delay)
		return Stop
	case filter.StopAndBuffer:
		return Stop
	}
	return Continue
}

// OnRequestBody counts a chunk of n bytes against requestBuffer. While a
// delay is pending the chunks are held too; the engine still sees them, so
// a body over the limit is refused without waiting for the delay.
func (x *Stream) OnRequestBody(n int, endStream bool) (st Status) {
	defer func() {
		if x.hostPanic(recover()) {
			st = StopNoBuffer
		}
	}()
	if !x.started || x.replied {
		return Continue
	}
	if endStream {
		x.reqEnded = true
	}
	a := x.s.OnRequestBody(n, endStream)
	x.flush()
	return x.bodyStatus(a)
}

// OnRequestTrailers ends the request body.
func (x *Stream) OnRequestTrailers() (st Status) {
	defer func() {
		if x.hostPanic(recover()) {
			st = Stop
		}
	}()
	if !x.started || x.replied {
		return Continue
	}
	x.reqEnded = true
	a := x.s.OnRequestTrailers()
	x.flush()
	if x.bodyStatus(a) == Continue {
		return Continue
	}
	return Stop
}

func (x *Stream) bodyStatus(a filter.Action) Status {
	switch {
	case a.Kind == filter.SendReply:
		x.reply(a.Reply)
		return StopNoBuffer
	case x.delaying || a.Kind == filter.StopAndBuffer:
		return StopAndBuffer
	}
	return Continue
}

// delay arms a timer; when it fires, the host runs resume on the worker
// thread. Nothing sleeps on an Envoy thread.
func (x *Stream) delay(d time.Duration) {
	x.delaying = true
	x.h.ExpectSchedule()
	h, gen := x.h, x.gen // read on the worker thread, not in the timer's goroutine
	x.timer = time.AfterFunc(d, func() { h.Schedule(func() { x.resume(gen) }) })
}

// resume runs on the worker thread once a delay of request gen has passed.
func (x *Stream) resume(gen uint64) {
	defer func() { x.hostPanic(recover()) }()
	if gen != x.gen || !x.delaying || x.replied {
		return
	}
	x.delaying = false
	x.req.hdr = x.h.RequestHeaders()
	a := x.s.OnDelayDone(&x.req)
	x.flush()
	switch {
	case a.Kind == filter.SendReply:
		x.reply(a.Reply)
	case a.Kind == filter.StopAndBuffer && !x.reqEnded:
		// requestBuffer still holds the body: OnRequestBody continues.
	default:
		x.h.ContinueRequest()
	}
}

// OnResponseHeaders lets the engine add rate-limit headers or replace the
// response (responseOverride).
func (x *Stream) OnResponseHeaders() (st Status) {
	defer func() {
		if x.hostPanic(recover()) {
			st = Stop
		}
	}()
	if !x.started || x.replied {
		return Continue
	}
	x.resp = responseView{h: x.h, hdr: x.h.ResponseHeaders()}
	a := x.s.OnResponseHeaders(x.resp.status(), &x.resp)
	x.flush()
	if a.Kind == filter.SendReply {
		x.reply(a.Reply)
		return Stop
	}
	return Continue
}

// OnStreamComplete closes the engine's stream (rate-limit response cost,
// a pending delay's timer). attempts is passed through; the engine no
// longer uses it (the retry budget is Envoy's cluster's).
func (x *Stream) OnStreamComplete(attempts int) {
	defer func() { x.hostPanic(recover()) }()
	if x.timer != nil {
		x.timer.Stop()
	}
	x.delaying = false
	if !x.started {
		return
	}
	x.s.OnStreamComplete(attempts)
	x.flush()
}

// reply sends the engine's local reply exactly as it goes on the wire.
func (x *Stream) reply(r *filter.Reply) {
	if x.replied {
		return
	}
	x.replied, x.delaying = true, false
	code, headers, body := r.Wire()
	x.h.SendLocalResponse(code, headers, body, r.Details)
}

// hostPanic handles a panic that escaped into the adapter (the engine
// recovers its own): it logs it and answers 500 if nothing was sent yet, so
// Envoy keeps serving. It reports whether there was a panic.
func (x *Stream) hostPanic(v any) bool {
	if v == nil {
		return false
	}
	filter.LogPanic(logPanic, " in the dynamic-module host", v)
	counts.Inc(filter.Panics)
	func() {
		defer func() { recover() }() // the handle may be what panicked
		if !x.replied {
			x.reply(filter.PanicReply())
		}
		x.flush()
	}()
	return true
}
