package adapter

import (
	"strings"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// A per-route config the parser refuses must not stop Envoy: in a bootstrap
// whose route table is inline in the listener, the golang filter parses a
// route's config at that route's first request, and a parse failure there
// hits Envoy's RELEASE_ASSERT ("TODO: terminate request or passthrough").
// So Parse accepts it as an invalidConfig, and the route answers every
// request with a bare 500, as Envoy Gateway renders a route whose
// BackendTrafficPolicy failed (a direct response with status 500, no body).
// Other routes are untouched.

// invalidDetails are the response code details of that 500 (access logs).
const invalidDetails = "btp_config_invalid"

// refusal is one refused per-route config: the parser's error, logged once.
type refusal struct {
	err    error
	logged atomic.Bool
}

// invalidConfig is what Parse and Merge hand Envoy for a route whose config
// (or a parent per-route config: virtual host) was refused. Merge gives
// each merged copy the filter level's stats; the refusal is shared, so it
// is logged once however many routes and listeners inherit it.
type invalidConfig struct {
	r     *refusal
	stats *stats // nil until merged under a filter-level config
}

// merged lays an invalid config under parent: the result stays invalid and
// counts into parent's stats.
func (c *invalidConfig) merged(parent any) *invalidConfig {
	m := &invalidConfig{r: c.r, stats: c.stats}
	if p, ok := parent.(*filter.Config); ok {
		if s, ok := p.Stats().(*stats); ok {
			m.stats = s
		}
	} else if p, ok := parent.(*invalidConfig); ok && p.stats != nil {
		m.stats = p.stats
	}
	return m
}

// invalidFilter answers every request of its route with a bare 500.
type invalidFilter struct {
	api.PassThroughStreamFilter
	cfg *invalidConfig
	cb  api.FilterCallbackHandler
}

func (f *invalidFilter) DecodeHeaders(api.RequestHeaderMap, bool) api.StatusType {
	if f.cfg.r.logged.CompareAndSwap(false, true) {
		f.cb.Log(api.Error, "btp: route \""+f.cb.StreamInfo().GetRouteName()+
			"\": its btp config was refused, so it answers every request with 500 until the config is fixed: "+
			strings.TrimPrefix(f.cfg.r.err.Error(), "btp: "))
	}
	if f.cfg.stats != nil {
		f.cfg.stats.add(invalid)
	}
	// Envoy shapes it as gRPC for gRPC requests (as it does a direct
	// response); the status passed is Envoy's own mapping of 500.
	f.cb.DecoderFilterCallbacks().SendLocalReply(500, "", nil, int64(filter.GRPCStatusForHTTP(500)), invalidDetails)
	return api.LocalReply
}
