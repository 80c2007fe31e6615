package adapter

import (
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
)

// requestView is the engine's filter.Request over the SDK: each method asks
// Envoy for one value, only when a rule needs it. Strings point into
// Envoy's memory and are valid for the current callback only, which is the
// engine's contract for Request.
type requestView struct {
	h   shared.HttpFilterHandle
	hdr shared.HeaderMap
}

func (r *requestView) Header(name string) (string, bool) {
	return headerValue(r.hdr, name)
}

func (r *requestView) Method() string { return r.hdr.GetOne(":method") }

func (r *requestView) Path() string { return r.hdr.GetOne(":path") }

// SourceAddress is Envoy's source.address attribute: the downstream peer
// as "ip:port".
func (r *requestView) SourceAddress() string {
	a, _ := r.h.GetAttributeString(shared.AttributeIDSourceAddress)
	return a
}

func (r *requestView) SetHeader(name, value string) { r.hdr.Set(name, value) }

// responseView is the engine's filter.ResponseHeaders over the SDK.
type responseView struct {
	hdr shared.HeaderMap
}

func (r *responseView) Header(name string) (string, bool) { return headerValue(r.hdr, name) }

func (r *responseView) SetHeader(name, value string) { r.hdr.Set(name, value) }

// headerValue returns the first value of name. GetOne cannot tell a missing
// header from an empty one, so only an empty answer pays for Get.
func headerValue(hdr shared.HeaderMap, name string) (string, bool) {
	if v := hdr.GetOne(name); v != "" {
		return v, true
	}
	return "", len(hdr.Get(name)) > 0
}

// status parses the :status pseudo-header (0 when absent or malformed).
func status(hdr shared.HeaderMap) int {
	s := hdr.GetOne(":status")
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || i >= 3 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
