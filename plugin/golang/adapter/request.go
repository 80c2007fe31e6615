package adapter

import (
	"strconv"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// requestView is the engine's filter.Request over the SDK's header map. It
// fetches one header at a time (GetRaw is a single lookup in Envoy's map;
// Get would first copy every header of the request into Go), so a request
// costs only the headers its rules name.
type requestView struct {
	h  api.RequestHeaderMap
	cb api.FilterCallbackHandler
}

func (r *requestView) Header(name string) (string, bool) {
	return header(r.h, name)
}

func (r *requestView) Method() string { return clone(r.h.GetRaw(":method")) }
func (r *requestView) Path() string   { return clone(r.h.GetRaw(":path")) }

func (r *requestView) SourceAddress() string {
	return r.cb.StreamInfo().DownstreamRemoteAddress()
}

// Protocol is the downstream protocol (HTTP/1.1, HTTP/2, ...) for the
// response override's %PROTOCOL%.
func (r *requestView) Protocol() string {
	p, _ := r.cb.StreamInfo().Protocol()
	return p
}

// SetHeader copies the value: the engine's may alias its scratch memory, and
// the SDK's Set keeps the string in its Go-side copy of the header map (which
// Set itself fills, copying every header into Go the first time a callback
// writes one: the SDK's price for writing, unavoidable through its API).
func (r *requestView) SetHeader(name, value string) { r.h.Set(name, strings.Clone(value)) }

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

func (r *responseView) SetHeader(name, value string) { r.h.Set(name, strings.Clone(value)) } // see requestView.SetHeader

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
func header(h api.HeaderMap, name string) (string, bool) {
	if v := h.GetRaw(name); v != "" {
		return clone(v), true
	}
	return "", false
}

// clone copies a value GetRaw returned: it points into Envoy's header map,
// which Envoy may change once the callback returns.
func clone(s string) string {
	if s == "" {
		return ""
	}
	return strings.Clone(s)
}
