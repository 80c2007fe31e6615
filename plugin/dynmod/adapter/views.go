package adapter

// requestView is the engine's filter.Request over the host: each method
// asks Envoy for one value, only when a rule needs it.
type requestView struct {
	h   Handle
	hdr Headers
}

func (r *requestView) Header(name string) (string, bool) { return r.hdr.Get(name) }

func (r *requestView) Method() string { v, _ := r.hdr.Get(":method"); return v }

func (r *requestView) Path() string { v, _ := r.hdr.Get(":path"); return v }

func (r *requestView) SourceAddress() string { return r.h.SourceAddress() }

func (r *requestView) SetHeader(name, value string) { r.hdr.Set(name, value) }

// Protocol is the downstream protocol, for the response override's
// %PROTOCOL%.
func (r *requestView) Protocol() string { return r.h.Protocol() }

// responseView is the engine's filter.ResponseHeaders over the host.
type responseView struct {
	h   Handle
	hdr Headers
}

// ResponseCodeDetails tells an upstream response (via_upstream) from a
// local reply of the router behind the filter (responseOverride source).
func (r *responseView) ResponseCodeDetails() string { return r.h.ResponseCodeDetails() }

func (r *responseView) Header(name string) (string, bool) { return r.hdr.Get(name) }

func (r *responseView) SetHeader(name, value string) { r.hdr.Set(name, value) }

// status parses the :status pseudo-header (0 when absent or malformed).
func (r *responseView) status() int {
	s, _ := r.hdr.Get(":status")
	return parseStatus(s)
}

func parseStatus(s string) int {
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
