package filter

import "github.com/envoy-btp/envoy-btp/config"

// responseOverride, as Envoy Gateway renders it: Envoy's custom_response
// filter placed first in the chain (internal/xds/translator/httpfilters.go,
// order 0), so it sees every response that comes back through it, from
// upstream and the local replies of the filters after it (fault abort,
// buffer 413, local rate limit 429). The first entry whose statusCodes match
// the response's wire :status replaces it with a new local reply: a
// gRPC-shaped local reply is matched as the 200 it is on the wire.
//
// The replacement is a fresh reply (Envoy sends it straight to the codec,
// sendDirectLocalReply): the replaced response's headers, x-ratelimit-*
// included, do not carry over.

type overrideReply struct {
	plan *config.OverridePlan
	// needs is what the config's formats read from the request, the same
	// for every entry of a config (nil: nothing).
	needs *overrideNeeds
	// plain is the reply for a plain request when nothing in it depends on
	// the response (fixed status, formats without operators); nil when it
	// is built per response.
	plain *Reply
	grpc  *Reply // the same for a gRPC request
}

func newOverrideReplies(list []config.OverridePlan) []overrideReply {
	if len(list) == 0 {
		return nil
	}
	out := make([]overrideReply, len(list))
	needs := newOverrideNeeds(list)
	for i := range list {
		p := &list[i]
		out[i].plan, out[i].needs = p, needs
		static := p.Status != 0
		for _, f := range p.Formats() {
			static = static && f.Static()
		}
		if static {
			out[i].plain = overrideFor(p, p.Status, nil, false)
			out[i].grpc = overrideFor(p, p.Status, nil, true)
		}
	}
	return out
}

// overrideFor is the replacement reply with HTTP status status, its formats
// rendered for rp (nil: static formats). For a gRPC request Envoy shapes it
// as every gRPC local reply: HTTP 200, grpc-status from the HTTP status,
// grpc-message the body (content-type is then application/grpc whatever the
// override says).
func overrideFor(p *config.OverridePlan, status int, rp *renderer, grpc bool) *Reply {
	r := &Reply{Status: status, GRPCStatus: -1, ContentType: rp.format(&p.ContentType), Body: rp.format(&p.Body), Details: "btp_response_override"}
	// response.header: Envoy Gateway's add entries (appended), then its set
	// entries (replacing any value before, the content type included), on
	// the replacement's fresh headers.
	for i := range p.AddHeaders {
		h := &p.AddHeaders[i]
		v := rp.format(&h.Value)
		if !h.Append {
			if h.Name == "content-type" {
				r.ContentType = ""
			}
			kept := r.Headers[:0]
			for _, kv := range r.Headers {
				if kv[0] != h.Name {
					kept = append(kept, kv)
				}
			}
			r.Headers = kept
		}
		r.Headers = append(r.Headers, [2]string{h.Name, v})
	}
	if grpc {
		r.GRPCStatus, r.ContentType = GRPCStatusForHTTP(status), ""
	}
	return r
}

// override replaces an upstream response (or a local reply of a filter
// after btp's, e.g. the router's 503) whose :status is status.
func (s *Stream) override(status int, resp ResponseHeaders) (Action, bool) {
	rp := replaced{status: status, resp: resp}
	if r := s.overrideMatch(status, &rp); r != nil {
		return s.reply(r), true
	}
	return Action{}, false
}

// localReply answers the request with the engine's own reply r, after the
// response override had its say, as custom_response sees the replies of
// the fault, buffer and local_ratelimit filters behind it.
func (s *Stream) localReply(r *Reply) Action {
	if len(s.cfg.over) != 0 {
		wire := r.Status
		if r.GRPCStatus >= 0 {
			wire = 200 // the wire status of a gRPC-shaped reply
		}
		if o := s.overrideMatch(wire, &replaced{status: r.Status, details: r.Details, detailsKnown: true, local: r}); o != nil {
			r = o
		}
	}
	return s.reply(r)
}

// overrideMatch returns the replacement for a response with wire status
// wire, or nil when no entry matches.
func (s *Stream) overrideMatch(wire int, rp *replaced) *Reply {
	for i := range s.cfg.over {
		o := &s.cfg.over[i]
		if !o.plan.Matches(wire) || !s.overrideHeadersMatch(o.plan, rp) {
			continue
		}
		switch o.plan.Source {
		case config.SourceLocal:
			if !rp.isLocal() {
				continue
			}
		case config.SourceBackend:
			if rp.isLocal() {
				continue
			}
		}
		s.cfg.inc(OverrideApplied)
		grpc := s.grpc > 0
		switch {
		case o.plain == nil:
			p := o.plan
			status := p.Status
			if status == 0 {
				status = wire // Envoy keeps the :status it replaces
			}
			return overrideFor(p, status, &renderer{s, rp}, grpc)
		case grpc:
			return o.grpc
		}
		return o.plain
	}
	return nil
}

// overrideHeadersMatch: every responseHeaders entry matches a header of
// the response being replaced (an absent header matches nothing).
func (s *Stream) overrideHeadersMatch(p *config.OverridePlan, rp *replaced) bool {
	for i := range p.Headers {
		h := &p.Headers[i]
		v, ok := rp.header(h.Name)
		if !ok || !h.Matches(v) {
			return false
		}
	}
	return true
}

// overrideStatuses is the union of the overrides' status ranges. A rule
// without status ranges is taken to match any status, which only costs a
// host's pre-check its precision, never a missed override.
func overrideStatuses(over []overrideReply) ([]config.StatusRange, bool) {
	var ranges []config.StatusRange
	for i := range over {
		if len(over[i].plan.Ranges) == 0 {
			return nil, true
		}
		ranges = append(ranges, over[i].plan.Ranges...)
	}
	return ranges, false
}
