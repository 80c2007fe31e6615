// Package filter is envoy-btp's enforcement engine. It knows no Envoy SDK:
// a host (plugin/golang, plugin/dynmod) turns its callbacks into calls on a
// Stream and performs the Action each call returns.
//
// Lifecycle, as a host sees it:
//
//	cfg, err := filter.ParseJSON(raw, opts)   // or ParseAny; once per config, at load
//	merged := filter.Merge(defaults, route)   // cached per (defaults, route): cheap to call per request
//	s := merged.NewStream()                   // or embed a Stream and call s.Init(merged)
//	a := s.OnRequestHeaders(req, endStream)   // then OnRequestBody / OnRequestTrailers
//	a = s.OnDelayDone(req)                    // only after a Delay action, when the timer fires
//	a = s.OnResponseHeaders(status, resp)
//	s.OnStreamComplete(attempts)              // always, exactly once, also after a local reply
//
// What an Action asks of the host:
//
//   - Continue: let the stream go on.
//   - StopAndBuffer: hold what has arrived and keep calling OnRequestBody
//     with each new chunk (OnRequestTrailers ends the body).
//   - SendReply: answer with Action.Reply and stop. Reply.Wire() is the
//     exact wire form; an SDK that shapes gRPC replies itself may use
//     Reply's fields instead (see Reply.GRPCStatus).
//   - Delay: hold the request, arm a timer for Action.Delay without blocking
//     the worker thread, then, on the request's thread or under the host's
//     own serialisation, call OnDelayDone and perform the Action it returns.
//     Body chunks that arrive meanwhile may be passed to OnRequestBody.
//
// Request and response headers the engine sets (x-envoy-max-retries: 0 when
// it withholds retries, the timeout header, x-ratelimit-*) are written through Request.SetHeader and
// ResponseHeaders.SetHeader during the call. Values passed to SetHeader may
// point into the Stream's scratch memory: hosts must copy them (both SDKs
// copy into Envoy anyway) and must not keep them.
//
// Every Stream method recovers its own panics: the request gets a 500
// reply, btp.panics is counted, and Options.Log gets the panic and stack.
// Hosts guard their own code with Recover.
//
// A Stream is used by one request at a time: hosts must not call it from
// two goroutines at once (a delay's goroutine calls OnDelayDone only after
// the host returned from the call that asked for the delay). Configs and
// everything they hold (rate-limit buckets) are shared by
// all streams and safe for concurrent use.
package filter
