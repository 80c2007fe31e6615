package adapter

import (
	"fmt"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"

	"github.com/envoy-btp/envoy-btp/filter"
)

// Stream is the SDK's HttpFilter for one request: it feeds the engine's
// filter.Stream and performs its Actions. Envoy calls it on one worker
// thread; the only other goroutine is a delay's timer, which merely asks the
// SDK's scheduler to run the resume on that worker thread.
type Stream struct {
	h shared.HttpFilterHandle
	f *Factory

	s    filter.Stream
	req  requestView
	resp responseView

	started  bool // the engine saw the request headers
	replied  bool // a local reply was sent; nothing more to do
	delaying bool // a delay timer is armed; the request is held
	reqEnded bool // the whole request has arrived
	timer    *time.Timer
}

// OnRequestHeaders picks the route's config, merged over the filter-level
// defaults, and asks the engine.
func (x *Stream) OnRequestHeaders(hdr shared.HeaderMap, endStream bool) (st shared.HeadersStatus) {
	defer func() {
		if x.hostPanic(recover()) {
			st = shared.HeadersStatusStop
		}
	}()
	cfg := x.f.defaults
	if rc, ok := x.h.GetMostSpecificConfig().(*filter.Config); ok {
		cfg = filter.Merge(cfg, rc)
	}
	x.s.Init(cfg)
	x.started = true
	x.reqEnded = endStream
	x.req = requestView{h: x.h, hdr: hdr}
	a := x.s.OnRequestHeaders(&x.req, endStream)
	counts.flush(x.h, x.f.ids)
	switch a.Kind {
	case filter.SendReply:
		x.reply(a.Reply)
		return shared.HeadersStatusStop
	case filter.Delay:
		x.delay(a.Delay)
		return shared.HeadersStatusStop
	case filter.StopAndBuffer:
		return shared.HeadersStatusStop
	}
	return shared.HeadersStatusContinue
}

// OnRequestBody counts each chunk against requestBuffer. While a delay is
// pending the chunks are held too; the engine still sees them, so a body
// over the limit is refused without waiting for the delay.
func (x *Stream) OnRequestBody(body shared.BodyBuffer, endStream bool) (st shared.BodyStatus) {
	defer func() {
		if x.hostPanic(recover()) {
			st = shared.BodyStatusStopNoBuffer
		}
	}()
	if !x.started || x.replied {
		return shared.BodyStatusContinue
	}
	if endStream {
		x.reqEnded = true
	}
	a := x.s.OnRequestBody(int(body.GetSize()), endStream)
	counts.flush(x.h, x.f.ids)
	return x.bodyStatus(a)
}

// OnRequestTrailers ends the request body.
func (x *Stream) OnRequestTrailers(trailers shared.HeaderMap) (st shared.TrailersStatus) {
	defer func() {
		if x.hostPanic(recover()) {
			st = shared.TrailersStatusStop
		}
	}()
	if !x.started || x.replied {
		return shared.TrailersStatusContinue
	}
	x.reqEnded = true
	a := x.s.OnRequestTrailers()
	counts.flush(x.h, x.f.ids)
	if x.bodyStatus(a) == shared.BodyStatusContinue {
		return shared.TrailersStatusContinue
	}
	return shared.TrailersStatusStop
}

func (x *Stream) bodyStatus(a filter.Action) shared.BodyStatus {
	switch {
	case a.Kind == filter.SendReply:
		x.reply(a.Reply)
		return shared.BodyStatusStopNoBuffer
	case x.delaying || a.Kind == filter.StopAndBuffer:
		return shared.BodyStatusStopAndBuffer
	}
	return shared.BodyStatusContinue
}

// delay arms a timer; when it fires, the SDK's scheduler runs resume on the
// worker thread. Nothing sleeps on an Envoy thread.
func (x *Stream) delay(d time.Duration) {
	x.delaying = true
	sched := x.h.GetScheduler()
	x.timer = time.AfterFunc(d, func() { sched.Schedule(x.resume) })
}

// resume runs on the worker thread once a delay has passed.
func (x *Stream) resume() {
	defer func() { x.hostPanic(recover()) }()
	if !x.delaying || x.replied {
		return
	}
	x.delaying = false
	a := x.s.OnDelayDone(&x.req)
	counts.flush(x.h, x.f.ids)
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
func (x *Stream) OnResponseHeaders(hdr shared.HeaderMap, endStream bool) (st shared.HeadersStatus) {
	defer func() {
		if x.hostPanic(recover()) {
			st = shared.HeadersStatusStop
		}
	}()
	if !x.started || x.replied {
		return shared.HeadersStatusContinue
	}
	x.resp = responseView{hdr: hdr}
	a := x.s.OnResponseHeaders(status(hdr), &x.resp)
	counts.flush(x.h, x.f.ids)
	if a.Kind == filter.SendReply {
		x.reply(a.Reply)
		return shared.HeadersStatusStop
	}
	return shared.HeadersStatusContinue
}

func (x *Stream) OnResponseBody(shared.BodyBuffer, bool) shared.BodyStatus {
	return shared.BodyStatusContinue
}

func (x *Stream) OnResponseTrailers(shared.HeaderMap) shared.TrailersStatus {
	return shared.TrailersStatusContinue
}

// OnStreamComplete closes the engine's stream with the number of upstream
// attempts Envoy made (retry budget accounting).
func (x *Stream) OnStreamComplete() {
	defer func() { x.hostPanic(recover()) }()
	if x.timer != nil {
		x.timer.Stop()
	}
	x.delaying = false
	if !x.started {
		return
	}
	attempts, _ := x.h.GetAttributeNumber(shared.AttributeIDUpstreamRequestAttemptCount)
	x.s.OnStreamComplete(int(attempts))
	counts.flush(x.h, x.f.ids)
}

// reply sends the engine's local reply exactly as it goes on the wire.
func (x *Stream) reply(r *filter.Reply) {
	if x.replied {
		return
	}
	x.replied, x.delaying = true, false
	code, headers, body := r.Wire()
	x.h.SendLocalResponse(uint32(code), headers, unsafe.Slice(unsafe.StringData(body), len(body)), r.Details)
}

// hostPanic handles a panic that escaped into the adapter (the engine
// recovers its own): it logs it and answers 500 if nothing was sent yet, so
// Envoy keeps serving. It reports whether there was a panic.
func (x *Stream) hostPanic(v any) bool {
	if v == nil {
		return false
	}
	logf(shared.LogLevelError, "%s", fmt.Sprintf("btp: recovered panic in the dynamic-module host: %v\n%s", v, debug.Stack()))
	counts.Inc(filter.Panics)
	func() {
		defer func() { recover() }() // the handle may be what panicked
		if !x.replied {
			x.reply(filter.PanicReply())
		}
		counts.flush(x.h, x.f.ids)
	}()
	return true
}
