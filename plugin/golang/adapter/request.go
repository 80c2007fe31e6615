package adapter

import (
	"strconv"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/config"
)

// requestView is the engine's filter.Request over the SDK's header map. It
// fetches one header at a time (GetRaw is a single lookup in Envoy's map;
// Get would first copy every header of the request into Go), so a request
// costs only the headers its rules name.
//
// Values point into Envoy's header map (no copy): the engine uses them
// during the call and copies what it keeps, as on the dynamic-module host.
// Each header is fetched at most once per request: the last few answers
// are kept (a rule and an override reading the same header cost one call).
type requestView struct {
	h  api.RequestHeaderMap
	cb api.FilterCallbackHandler

	seen  int // answers kept in names/vals, reset with each request's headers
	names [4]string
	vals  [4]string
}

func (r *requestView) Header(name string) (string, bool) {
	v := r.get(name)
	return v, v != ""
}

func (r *requestView) get(name string) string {
	for i := range min(r.seen, len(r.names)) {
		if r.names[i] == name {
			return r.vals[i]
		}
	}
	v := r.h.GetRaw(name)
	if r.seen < len(r.names) {
		r.names[r.seen], r.vals[r.seen] = name, v
		r.seen++
	}
	return v
}

func (r *requestView) Method() string { return r.get(":method") }
func (r *requestView) Path() string   { return r.get(":path") }

func (r *requestView) SourceAddress() string {
	return r.cb.StreamInfo().DownstreamRemoteAddress()
}

// Protocol is the downstream protocol (HTTP/1.1, HTTP/2, ...) for the
// response override's %PROTOCOL%.
func (r *requestView) Protocol() string {
	p, _ := r.cb.StreamInfo().Protocol()
	return p
}

// SetHeader writes through setHeader (see there). A header the engine set
// is not read back, so the kept answers need no update.
func (r *requestView) SetHeader(name, value string) { setHeader(r.h, name, value) }

// responseView is the engine's filter.ResponseHeaders.
type responseView struct {
	h  api.ResponseHeaderMap
	cb api.FilterCallbackHandler
}

// ResponseCodeDetails tells an upstream response (via_upstream) from a
// local reply of the router behind the filter (responseOverride source).
func (r *responseView) ResponseCodeDetails() string {
	d, _ := r.cb.StreamInfo().ResponseCodeDetails()
	return d
}

func (r *responseView) Header(name string) (string, bool) { return header(r.h, name) }

func (r *responseView) SetHeader(name, value string) { setHeader(r.h, name, value) }

// SetHeaderDirect, when set (plugin/golang sets it to a call straight into
// the golang filter's C API), writes a header of one of the SDK's own maps
// and reports true; false: h is not one it knows. It exists because the
// SDK's Set first copies every header of the map into Go (the first time a
// callback writes one) to keep a Go-side copy this adapter never reads.
var SetHeaderDirect func(h api.HeaderMap, name, value string) bool

// setHeader writes a header. Through the SDK's Set the value is copied: the
// engine's may alias its scratch memory, and Set keeps the string in its
// Go-side copy of the map.
func setHeader(h api.HeaderMap, name, value string) {
	if SetHeaderDirect != nil && SetHeaderDirect(h, name, value) {
		return
	}
	h.Set(name, strings.Clone(value))
}

// inRanges reports whether status is in one of ranges.
func inRanges(ranges []config.StatusRange, status int) bool {
	for _, r := range ranges {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

// responseStatus reads :status with GetRaw: the SDK's Status() goes through
// Get, which would copy every response header into Go on every response.
func responseStatus(h api.ResponseHeaderMap) int {
	n, err := strconv.Atoi(h.GetRaw(":status"))
	if err != nil {
		return 0
	}
	return n
}

// header returns a header's first value. GetRaw cannot tell an absent
// header from one with an empty value, and the only call that can (Get)
// copies the whole header map into Go first. So on this host
// a header with an empty value counts as absent (docs/golang.md).
// The value points into Envoy's map, valid during the callback.
func header(h api.HeaderMap, name string) (string, bool) {
	v := h.GetRaw(name)
	return v, v != ""
}
