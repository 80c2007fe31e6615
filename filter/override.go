package filter

import "github.com/envoy-btp/envoy-btp/config"

// responseOverride: the first entry whose statusCodes match the upstream
// status replaces the response with its status, content type and body.

type overrideReply struct {
	plan  *config.OverridePlan
	reply *Reply // nil when the status is kept: built per response
}

func newOverrideReplies(list []config.OverridePlan) []overrideReply {
	if len(list) == 0 {
		return nil
	}
	out := make([]overrideReply, len(list))
	for i := range list {
		p := &list[i]
		out[i].plan = p
		if p.Status != 0 {
			out[i].reply = overrideFor(p, p.Status)
		}
	}
	return out
}

func overrideFor(p *config.OverridePlan, status int) *Reply {
	return &Reply{Status: status, GRPCStatus: -1, ContentType: p.ContentType, Body: p.Body, Details: "btp_response_override"}
}

func (s *Stream) override(status int) (Action, bool) {
	for i := range s.cfg.over {
		o := &s.cfg.over[i]
		if !o.plan.Matches(status) {
			continue
		}
		s.cfg.inc(OverrideApplied)
		r := o.reply
		if r == nil {
			r = overrideFor(o.plan, status)
		}
		if s.rl.hdr.rs != nil {
			// The client still learns its rate-limit state.
			c := *r
			c.Headers = s.rateLimitHeaderList(s.cfg.opts.Now())
			r = &c
		}
		return s.reply(r), true
	}
	return Action{}, false
}
