package main

/*
#include "hooks.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/envoy-btp/envoy-btp/filter"
	"github.com/envoy-btp/envoy-btp/plugin/dynmod/adapter"
)

// streams holds the Go side of every request; the C state (btp_stream)
// keeps the slot, which C hands out and takes back (hooks.c). Entries are
// reused, so a request allocates nothing in Go.
var streams table[stream]

// stream is one request's Go state: the adapter's Stream and the views it
// reads Envoy through. envoy is valid from request headers to the end.
type stream struct {
	envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr
	c     *C.btp_stream
	route *filter.Config

	a          adapter.Stream
	reqHeaders headerMap
	rspHeaders headerMap

	// depth counts the exported callbacks running for this stream: Envoy
	// calls some hooks from inside others (a local reply runs the response
	// hooks and may complete the stream before send_response returns), so
	// the Go state ends only when the outermost one returns.
	depth     int
	completed bool

	replyHeaders [16]C.envoy_dynamic_module_type_module_http_header

	mu    sync.Mutex // guards sched: a delay's timer commits from its own goroutine
	sched C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr
	tasks []func()
}

// streamOf returns the stream of c's slot.
func streamOf(c *C.btp_stream) *stream {
	s := streams.ensure(uint32(c.slot))
	s.c = c
	return s
}

// exit ends a callback: Envoy's header views are dropped (they are valid
// during the callback only), a completed stream's Go state ends, and C
// learns which callbacks Go still wants, the override statuses it checks
// and the x-ratelimit-* values it adds.
func (s *stream) exit() {
	s.reqHeaders.n, s.rspHeaders.n = -1, -1
	if s.depth--; s.depth > 0 {
		return
	}
	if s.completed {
		s.release()
		return
	}
	later := s.a.Later()
	c := s.c
	c.nadd = 0
	var hdrs [3][2]string
	if n := s.a.RateLimitHeaders(&hdrs); n == C.btp_ratelimit_headers {
		c.nadd = C.uint8_t(n)
		for i, h := range hdrs {
			if len(h[1]) > C.btp_max_value {
				later |= filter.LaterResponse // too long for C: Go adds them
				c.nadd = 0
				break
			}
			c.addlen[i] = C.uint8_t(copy(unsafe.Slice((*byte)(unsafe.Pointer(&c.add[i][0])), C.btp_max_value), h[1]))
		}
	}
	if later&filter.LaterOverride != 0 {
		ranges, any := s.a.OverrideStatuses()
		if any || len(ranges) > C.btp_max_ranges {
			later |= filter.LaterResponse
		} else {
			c.nranges = C.uint8_t(len(ranges))
			for i, r := range ranges {
				c.lo[i], c.hi[i] = C.uint16_t(r.Lo), C.uint16_t(r.Hi)
			}
		}
	}
	if s.sched != nil {
		later |= filter.LaterComplete // release deletes the scheduler
	}
	c.later = C.uint32_t(later)
}

// release ends the stream's Go state (on the worker thread, after its last
// callback): its scheduler and timer. C frees the slot.
func (s *stream) release() {
	s.mu.Lock()
	if s.sched != nil {
		C.envoy_dynamic_module_callback_http_filter_scheduler_delete(s.sched)
		s.sched = nil
	}
	s.tasks = s.tasks[:0]
	s.mu.Unlock()
	s.c.later = 0
	s.a.Start(nil, s) // stops a timer; one already firing finds no scheduler
	s.envoy, s.c, s.route = nil, nil, nil
	s.depth, s.completed = 0, false
}

//export btpRequestHeaders
func btpRequestHeaders(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream, route C.uintptr_t, endOfStream, yield C.bool) C.envoy_dynamic_module_type_on_http_filter_request_headers_status {
	s := streamOf(c)
	s.depth++
	s.envoy = envoy
	s.route = nil
	if route != 0 {
		s.route = configAt(route).route
	}
	// The request map starts with the views the hook fetched (hooks.c).
	r := &s.reqHeaders
	r.envoy, r.kind, r.n, r.views = envoy, C.envoy_dynamic_module_type_http_header_type_RequestHeader, int(c.nreq), &c.req
	p := &s.rspHeaders
	p.envoy, p.kind, p.n, p.views = envoy, C.envoy_dynamic_module_type_http_header_type_ResponseHeader, -1, &p.own
	s.a.Start(configAt(c.config).factory, s)
	st := s.a.OnRequestHeaders(bool(endOfStream))
	s.exit()
	tick(bool(yield))
	return C.envoy_dynamic_module_type_on_http_filter_request_headers_status(headersStatus(st))
}

//export btpRequestBody
func btpRequestBody(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream, n C.size_t, endOfStream C.bool) C.envoy_dynamic_module_type_on_http_filter_request_body_status {
	s := streams.at(uint32(c.slot))
	s.depth++
	st := s.a.OnRequestBody(int(n), bool(endOfStream))
	s.exit()
	switch st {
	case adapter.StopAndBuffer:
		return C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer
	case adapter.StopNoBuffer, adapter.Stop:
		return C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer
	}
	return C.envoy_dynamic_module_type_on_http_filter_request_body_status_Continue
}

//export btpRequestTrailers
func btpRequestTrailers(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream) C.envoy_dynamic_module_type_on_http_filter_request_trailers_status {
	s := streams.at(uint32(c.slot))
	s.depth++
	st := s.a.OnRequestTrailers()
	s.exit()
	return C.envoy_dynamic_module_type_on_http_filter_request_trailers_status(headersStatus(st))
}

//export btpResponseHeaders
func btpResponseHeaders(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream, endOfStream C.bool) C.envoy_dynamic_module_type_on_http_filter_response_headers_status {
	s := streams.at(uint32(c.slot))
	s.depth++
	st := s.a.OnResponseHeaders()
	s.exit()
	return C.envoy_dynamic_module_type_on_http_filter_response_headers_status(headersStatus(st))
}

//export btpStreamComplete
func btpStreamComplete(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream, attempts C.uint64_t) {
	s := streams.at(uint32(c.slot))
	s.depth++
	s.a.OnStreamComplete(int(attempts))
	s.completed = true
	s.exit()
}

// btpRelease ends the Go state of a stream Envoy destroys without
// completing it.
//
//export btpRelease
func btpRelease(c *C.btp_stream) {
	s := streams.at(uint32(c.slot))
	s.c = c
	s.release()
}

//export btpScheduled
func btpScheduled(envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr, c *C.btp_stream, event C.uint64_t) {
	s := streams.at(uint32(c.slot))
	s.mu.Lock()
	var task func()
	if i := int(event); i < len(s.tasks) {
		task, s.tasks[i] = s.tasks[i], nil
	}
	s.mu.Unlock()
	if task != nil {
		s.depth++
		task()
		s.exit()
	}
}

// headersStatus maps the adapter's answer to the headers/trailers statuses
// (Continue 0, StopIteration 1 in every one of them).
func headersStatus(st adapter.Status) int {
	if st == adapter.Continue {
		return 0
	}
	return 1
}

// The adapter.Handle of a stream.

func (s *stream) RouteConfig() *filter.Config { return s.route }

func (s *stream) RequestHeaders() adapter.Headers { return &s.reqHeaders }

func (s *stream) ResponseHeaders() adapter.Headers { return &s.rspHeaders }

func (s *stream) SourceAddress() string {
	var b C.envoy_dynamic_module_type_envoy_buffer
	if !C.envoy_dynamic_module_callback_http_filter_get_attribute_string(s.envoy, C.envoy_dynamic_module_type_attribute_id_SourceAddress, &b) {
		return ""
	}
	return goString(b)
}

func (s *stream) SendLocalResponse(status int, headers [][2]string, body, details string) {
	hv := &s.replyHeaders
	n := min(len(headers), len(hv))
	for i, h := range headers[:n] {
		hv[i] = C.envoy_dynamic_module_type_module_http_header{
			key_ptr: (*C.char)(unsafe.Pointer(unsafe.StringData(h[0]))), key_length: C.size_t(len(h[0])),
			value_ptr: (*C.char)(unsafe.Pointer(unsafe.StringData(h[1]))), value_length: C.size_t(len(h[1])),
		}
	}
	hp := &hv[0] // see headerMap.Get
	C.envoy_dynamic_module_callback_http_send_response(s.envoy, C.uint32_t(status), hp, C.size_t(n), moduleBuffer(body), moduleBuffer(details))
	runtime.KeepAlive(headers)
	runtime.KeepAlive(body)
	runtime.KeepAlive(details)
}

// ExpectSchedule makes the stream's scheduler, on the worker thread, before
// a delay's timer can fire.
func (s *stream) ExpectSchedule() {
	s.mu.Lock()
	if s.sched == nil {
		s.sched = C.envoy_dynamic_module_callback_http_filter_scheduler_new(s.envoy)
	}
	s.mu.Unlock()
}

func (s *stream) ContinueRequest() {
	C.envoy_dynamic_module_callback_http_filter_continue_decoding(s.envoy)
}

// Schedule commits task to Envoy's scheduler of this stream, which calls
// envoy_dynamic_module_on_http_filter_scheduled on the worker thread. The
// scheduler is made on the worker thread when the delay is armed
// (ExpectSchedule).
func (s *stream) Schedule(task func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sched == nil {
		return // the stream ended first
	}
	s.tasks = append(s.tasks, task)
	C.envoy_dynamic_module_callback_http_filter_scheduler_commit(s.sched, C.uint64_t(len(s.tasks)-1))
}

// IncrementCounters leaves the increments in the C state, where the hook
// makes them when this callback returns (hooks.c flush_counts): a call from
// Go into C costs the runtime a syscall entry and exit. Only increments that
// do not fit cross now.
func (s *stream) IncrementCounters(ids, n []uint64) {
	c := s.c
	for i := range ids {
		k := int(c.ncount)
		if k == C.btp_max_counts {
			idp, np := (*C.uint64_t)(unsafe.Pointer(&ids[i])), (*C.uint64_t)(unsafe.Pointer(&n[i])) // see headerMap.Get
			C.btp_increment_counters(s.envoy, idp, np, C.size_t(len(ids)-i))
			return
		}
		c.count_id[k], c.count_n[k] = C.uint64_t(ids[i]), C.uint64_t(n[i])
		c.ncount++
	}
}
