package filter

import (
	"strconv"
	"strings"

	"github.com/envoy-btp/envoy-btp/config"
)

// Response override bodies, content types and header values are Envoy
// format strings (config/format.go). A static one is used as is; one with
// operators is rendered when the override fires, from the response being
// replaced and from the request values captured at request headers time
// (the response phase has no request view).

// ProtocolRequest is a Request whose host can tell the downstream protocol
// (%PROTOCOL%). A Request without it formats "-".
type ProtocolRequest interface {
	Protocol() string
}

// ResponseDetails is a ResponseHeaders whose host can tell Envoy's response
// code details: "via_upstream" for an upstream response, the reason of a
// local reply (the router's no_healthy_upstream, ...). Without it an
// upstream-side response counts as via_upstream.
type ResponseDetails interface {
	ResponseCodeDetails() string
}

const viaUpstream = "via_upstream"

// overrideNeeds is what a config's override formats read from the request,
// so a stream captures exactly that at request headers time.
type overrideNeeds struct {
	headers []string // request header names (lower case), REQ(X?Y) both
	proto   bool
	addr    bool
}

func newOverrideNeeds(list []config.OverridePlan) *overrideNeeds {
	n := &overrideNeeds{}
	add := func(f *config.Format) {
		for _, p := range f.Parts {
			switch p.Kind {
			case config.FormatRequestHeader:
				n.addHeader(p.Text)
				if p.Alt != "" {
					n.addHeader(p.Alt)
				}
			case config.FormatProtocol:
				n.proto = true
			case config.FormatRemoteAddress, config.FormatRemoteAddressWithoutPort:
				n.addr = true
			}
		}
	}
	for i := range list {
		for _, f := range list[i].Formats() {
			add(f)
		}
	}
	if len(n.headers) == 0 && !n.proto && !n.addr {
		return nil
	}
	return n
}

func (n *overrideNeeds) addHeader(name string) {
	for _, h := range n.headers {
		if h == name {
			return
		}
	}
	n.headers = append(n.headers, name)
}

// capturedRequest holds copies of the request values override formats
// read; only streams whose config needs them allocate one.
type capturedRequest struct {
	needs   *overrideNeeds
	headers []string // aligned with needs.headers; "" and !present = absent
	present []bool
	proto   string
	addr    string
}

func (s *Stream) captureRequest(req Request, n *overrideNeeds) {
	c := &capturedRequest{needs: n, headers: make([]string, len(n.headers)), present: make([]bool, len(n.headers))}
	for i, h := range n.headers {
		if v, ok := req.Header(h); ok {
			c.headers[i], c.present[i] = strings.Clone(v), true
		}
	}
	if n.proto {
		if p, ok := req.(ProtocolRequest); ok {
			c.proto = internProtocol(p.Protocol())
		}
	}
	if n.addr {
		c.addr = strings.Clone(req.SourceAddress())
	}
	s.captured = c
}

func internProtocol(p string) string {
	for _, k := range [...]string{"HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"} {
		if p == k {
			return k
		}
	}
	return strings.Clone(p)
}

func (c *capturedRequest) header(name string) (string, bool) {
	if c == nil {
		return "", false
	}
	for i, h := range c.needs.headers {
		if h == name {
			return c.headers[i], c.present[i]
		}
	}
	return "", false
}

// replaced is the response an override replaces, as its formats see it.
type replaced struct {
	status       int // %RESPONSE_CODE%: the HTTP status (of a local reply, also when gRPC-shaped)
	details      string
	detailsKnown bool            // details was asked for (a host call) or is the engine's own
	resp         ResponseHeaders // an upstream-side response; nil for the engine's own reply
	local        *Reply          // the engine's own reply; nil for an upstream-side one
}

// codeDetails is Envoy's response code details, asked of the host at most
// once and only when an override needs it.
func (r *replaced) codeDetails() string {
	if !r.detailsKnown {
		r.detailsKnown, r.details = true, viaUpstream
		if d, ok := r.resp.(ResponseDetails); ok {
			if v := d.ResponseCodeDetails(); v != "" {
				r.details = v
			}
		}
	}
	return r.details
}

func (r *replaced) header(name string) (string, bool) {
	if r.resp != nil {
		return r.resp.Header(name)
	}
	if r.local == nil {
		return "", false
	}
	_, hs, _ := r.local.Wire()
	for _, kv := range hs {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// isLocal reports whether the response is a local reply (source: Local):
// the engine's own, or one Envoy's response code details do not mark
// via_upstream (Envoy's local_reply match input says the same).
func (r *replaced) isLocal() bool {
	return r.local != nil || r.codeDetails() != viaUpstream
}

// renderer formats an override's strings for one replaced response; a nil
// renderer takes static formats only (replies built at config load).
type renderer struct {
	s *Stream
	r *replaced
}

func (rd *renderer) format(f *config.Format) string {
	if f.Static() {
		return f.Literal
	}
	return rd.s.format(f, rd.r)
}

// format renders f for the response r replaces.
func (s *Stream) format(f *config.Format, r *replaced) string {
	if f.Static() {
		return f.Literal
	}
	var b strings.Builder
	for i := range f.Parts {
		p := &f.Parts[i]
		var v string
		ok := true
		switch p.Kind {
		case config.FormatText:
			b.WriteString(p.Text)
			continue
		case config.FormatResponseCode:
			v = strconv.Itoa(r.status)
		case config.FormatResponseCodeDetails:
			v = r.codeDetails()
			ok = v != ""
		case config.FormatRequestHeader:
			v, ok = s.captured.header(p.Text)
			if !ok && p.Alt != "" {
				v, ok = s.captured.header(p.Alt)
			}
		case config.FormatResponseHeader:
			v, ok = r.header(p.Text)
			if !ok && p.Alt != "" {
				v, ok = r.header(p.Alt)
			}
		case config.FormatProtocol:
			if s.captured != nil {
				v, ok = s.captured.proto, s.captured.proto != ""
			}
		case config.FormatRemoteAddress, config.FormatRemoteAddressWithoutPort:
			if s.captured != nil {
				v = s.captured.addr
				if p.Kind == config.FormatRemoteAddressWithoutPort {
					v = withoutPort(v)
				}
			}
			ok = v != ""
		}
		if !ok {
			v = "-" // Envoy's text formats print a missing value as "-"
		}
		if p.Max > 0 && len(v) > p.Max {
			v = v[:p.Max]
		}
		b.WriteString(v)
	}
	return b.String()
}

// withoutPort strips the port of "ip:port" or "[ipv6]:port".
func withoutPort(a string) string {
	if strings.HasPrefix(a, "[") {
		if i := strings.IndexByte(a, ']'); i > 0 {
			return a[1:i]
		}
		return a
	}
	if strings.Count(a, ":") == 1 {
		return a[:strings.IndexByte(a, ':')]
	}
	return a
}
