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
	for i := range list {
		p := &list[i]
		out[i].plan = p
		if p.Status != 0 && p.Body.Static() && p.ContentType.Static() {
			out[i].plain = overrideFor(p, p.Status, p.ContentType.Literal, p.Body.Literal, false)
			out[i].grpc = overrideFor(p, p.Status, "", p.Body.Literal, true)
		}
	}
	return out
}

// overrideFor is the replacement reply with HTTP status status. For a gRPC
// request Envoy shapes it as every gRPC local reply: HTTP 200, grpc-status
// from the HTTP status, grpc-message the body (content-type is then
// application/grpc whatever the override says).
func overrideFor(p *config.OverridePlan, status int, contentType, body string, grpc bool) *Reply {
	r := &Reply{Status: status, GRPCStatus: -1, ContentType: contentType, Body: body, Details: "btp_response_override"}
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
		if !o.plan.Matches(wire) {
			continue
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
			return overrideFor(p, status, s.format(&p.ContentType, rp), s.format(&p.Body, rp), grpc)
		case grpc:
			return o.grpc
		}
		return o.plain
	}
	return nil
}
