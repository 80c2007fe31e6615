package adapter

import "github.com/envoy-btp/envoy-btp/filter"

// Handle is what a stream needs from its host (plugin/dynmod, which speaks
// Envoy's dynamic-module ABI): one method per thing the engine may ask for
// or do. Strings it returns may point into Envoy's memory and are valid
// during the current callback only, which is the engine's contract too.
type Handle interface {
	// RouteConfig is the route's per-route config (nil: none).
	RouteConfig() *filter.Config
	RequestHeaders() Headers
	ResponseHeaders() Headers
	// SourceAddress is Envoy's source.address attribute, "ip:port".
	SourceAddress() string
	// Protocol is Envoy's request.protocol attribute (HTTP/1.1, HTTP/2,
	// ...) and ResponseCodeDetails its response.code_details (via_upstream
	// or a local reply's reason): the response override reads them.
	Protocol() string
	ResponseCodeDetails() string
	SendLocalResponse(status int, headers [][2]string, body, details string)
	ContinueRequest()
	// ExpectSchedule is called on the worker thread before a delay's timer
	// is armed; Schedule then arranges, from any goroutine (the timer), for
	// task to run on the stream's worker thread.
	ExpectSchedule()
	Schedule(task func())
	// IncrementCounters adds n[i] to counter ids[i], in one call.
	IncrementCounters(ids, n []uint64)
}

// Headers is one of the stream's header maps.
type Headers interface {
	// Get returns the first value of a lower-case header name.
	Get(name string) (string, bool)
	// Set replaces the header (Envoy copies name and value).
	Set(name, value string)
}

// ConfigHandle is what parsing a filter-level config needs from the host.
type ConfigHandle interface {
	// DefineCounter defines a counter; ok is false if Envoy refused it.
	DefineCounter(name string) (id uint64, ok bool)
}

// Level is a log level (Envoy's).
type Level uint8

const (
	LevelDebug Level = iota
	LevelWarn
	LevelError
)

// Log receives the adapter's log lines; the host points it at Envoy's log.
var Log = func(Level, string) {}

// Status is what a callback tells Envoy, in the host's terms.
type Status uint8

const (
	// Continue the filter chain.
	Continue Status = iota
	// Stop iterating (headers, trailers); the stream resumes on
	// ContinueRequest or ends with a local reply.
	Stop
	// StopAndBuffer holds the body received so far (body callbacks).
	StopAndBuffer
	// StopNoBuffer stops without buffering (body callbacks, after a reply).
	StopNoBuffer
)
