package adapter

import (
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/filter"
)

// TestRefusedRouteConfigAnswers500: a per-route config the parser refuses
// is accepted (an error would stop Envoy when it parses at the route's first
// request); the route answers each request with a bare 500, counted, and
// logs the error with its field path once; a route with a good config
// under the same filter level keeps serving.
func TestRefusedRouteConfigAnswers500(t *testing.T) {
	var p ConfigParser
	cb := newConfigCallbacks()
	parent, err := p.Parse(typedStruct(t, `{"timeout":{"http":{"requestTimeout":"1s"}}}`), cb)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := p.Parse(typedStruct(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Sec"}}]}}}`), nil)
	if err != nil {
		t.Fatalf("a refused route config must not be an error: %v", err)
	}
	good, err := p.Parse(typedStruct(t, `{"retry":{"numRetries":1}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	badRoute, goodRoute := p.Merge(parent, bad), p.Merge(parent, good)

	var logs []logLine
	for i := range 3 {
		h := newHandler("192.0.2.1:1")
		f := NewStreamFilter(badRoute, h)
		if st := f.DecodeHeaders(newHeaders(":method", "GET", ":path", "/"), true); st != api.LocalReply {
			t.Fatalf("request %d: DecodeHeaders = %v, want LocalReply", i, st)
		}
		rs, _ := h.dec.snapshot()
		if len(rs) != 1 || rs[0].status != 500 || rs[0].body != "" || rs[0].headers != nil || rs[0].details != "btp_config_invalid" {
			t.Fatalf("request %d: replies %+v, want one bare 500", i, rs)
		}
		if rs[0].grpcStatus != int64(filter.GRPCStatusForHTTP(500)) {
			t.Errorf("gRPC status %d, want Envoy's mapping of 500", rs[0].grpcStatus)
		}
		f.OnStreamComplete()
		f.OnDestroy(api.Normal)
		logs = append(logs, h.logged()...)
	}
	if len(logs) != 1 || logs[0].level != api.Error ||
		!strings.Contains(logs[0].msg, `route "route"`) ||
		!strings.Contains(logs[0].msg, `rateLimit.local.rules[0].limit.unit: unknown unit "Sec"`) {
		t.Fatalf("logs %+v, want one error naming the route and the field path", logs)
	}
	if n := cb.count(ConfigInvalidCounter); n != 3 {
		t.Errorf("%s = %d, want 3", ConfigInvalidCounter, n)
	}

	h := newHandler("192.0.2.1:1")
	req := newHeaders(":method", "GET", ":path", "/")
	if st := NewStreamFilter(goodRoute, h).DecodeHeaders(req, true); st != api.Continue {
		t.Fatalf("good route: DecodeHeaders = %v", st)
	}
	if req.value("x-envoy-upstream-rq-timeout-ms") != "1000" {
		t.Errorf("good route lost the filter-level timeout")
	}

	// A refused virtual-host config makes its routes invalid whatever their
	// own config, and the refusal is still logged once.
	vh := p.Merge(parent, bad)
	route := p.Merge(vh, good)
	if c, ok := route.(*invalidConfig); !ok || c.r != bad.(*invalidConfig).r || c.stats == nil {
		t.Fatalf("route under a refused virtual host: %T %+v", route, route)
	}
}
