package adapter

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsv3 "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/envoy-btp/envoy-btp/filter"
)

// configLog collects what the engine logs at config level (logError).
var configLog struct {
	sync.Mutex
	lines []string
}

func init() {
	// Counters reach the fakes at once, so a test can read them right after
	// a request (TestCountsBatched covers the batching).
	batchCounts = false
	logError = func(msg string) {
		configLog.Lock()
		defer configLog.Unlock()
		configLog.lines = append(configLog.lines, msg)
	}
}

// typedStruct packs JSON config the way `btp render --host golang` does:
// Any(xds.type.v3.TypedStruct{value: Struct}).
func typedStruct(t testing.TB, js string) *anypb.Any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("test config %s: %v", js, err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xdsv3.TypedStruct{TypeUrl: "type.googleapis.com/envoy-btp.config", Value: s})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rig is one filter chain: the filter-level config (with Envoy's stats),
// optionally a per-route config merged over it the way Envoy does.
type rig struct {
	t     testing.TB
	cfg   any
	stats *fakeConfigCallbacks
}

func newRig(t testing.TB, filterLevel, route string) *rig {
	t.Helper()
	r := &rig{t: t, stats: newConfigCallbacks()}
	var p ConfigParser
	parent, err := p.Parse(typedStruct(t, filterLevel), r.stats)
	if err != nil {
		t.Fatalf("filter-level config: %v", err)
	}
	r.cfg = parent
	if route != "" {
		child, err := p.Parse(typedStruct(t, route), nil)
		if err != nil {
			t.Fatalf("route config: %v", err)
		}
		r.cfg = p.Merge(parent, child)
	}
	return r
}

// request is one stream through the adapter, with the fakes Envoy would hand it.
type request struct {
	f   api.StreamFilter
	h   *fakeHandler
	req *fakeHeaders
}

func (r *rig) request(remote, method, path string, kv ...string) *request {
	h := newHandler(remote)
	f := NewStreamFilter(r.cfg, h)
	hdr := newHeaders(append([]string{":method", method, ":path", path, ":scheme", "http", ":authority", "example.com"}, kv...)...)
	return &request{f: f, h: h, req: hdr}
}

// waitDone waits for the asynchronous half of a request (a Continue or a
// local reply from a goroutine).
func waitDone(t testing.TB, p *fakeProcess) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no Continue or SendLocalReply within 5s")
	}
}

func (r *request) replies() []localReply { rs, _ := r.h.dec.snapshot(); return rs }

func TestParse(t *testing.T) {
	var p ConfigParser
	good := `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Second"}}]}}}`
	asString := func() *anypb.Any {
		a, _ := anypb.New(wrapperspb.String(good))
		return a
	}
	asStruct := func() *anypb.Any {
		var m map[string]any
		json.Unmarshal([]byte(good), &m)
		s, _ := structpb.NewStruct(m)
		a, _ := anypb.New(s)
		return a
	}
	asUdpa := func(js string) *anypb.Any {
		var m map[string]any
		json.Unmarshal([]byte(js), &m)
		s, _ := structpb.NewStruct(m)
		a, _ := anypb.New(&udpav1.TypedStruct{TypeUrl: "type.googleapis.com/envoy-btp.config", Value: s})
		return a
	}
	tests := []struct {
		name    string
		any     *anypb.Any
		wantErr string
	}{
		{"typed struct", typedStruct(t, good), ""},
		{"udpa typed struct", asUdpa(good), ""},
		{"udpa typed struct names the field", asUdpa(`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"unit":"Second"}}]}}}`),
			"rateLimit.local.rules[0].limit.requests: required"},
		{"struct", asStruct(), ""},
		{"JSON string", asString(), ""},
		{"bad JSON string", func() *anypb.Any { a, _ := anypb.New(wrapperspb.String(`{"rateLimit":`)); return a }(), "btp: "},
		{"empty any (no plugin_config)", &anypb.Any{}, ""},
		{"nil", nil, ""},
		{"bad unit names the field", typedStruct(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Sec"}}]}}}`),
			"rateLimit.local.rules[0].limit.unit"},
		{"unknown field is refused", typedStruct(t, `{"rateLimt":{}}`), "rateLimt"},
		{"bad duration", typedStruct(t, `{"faultInjection":{"delay":{"fixedDelay":"5 seconds"}}}`), "faultInjection.delay.fixedDelay"},
		{"wrong type url", &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Duration"}, "google.protobuf.Duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cb := range []api.ConfigCallbackHandler{newConfigCallbacks(), nil} {
				cfg, err := p.Parse(tc.any, cb)
				if tc.wantErr == "" {
					if err != nil || cfg == nil {
						t.Fatalf("Parse: %v", err)
					}
					if _, ok := cfg.(*filter.Config); !ok {
						t.Fatalf("Parse returned %T", cfg)
					}
					continue
				}
				if cb == nil {
					// a route's refused config is accepted as invalid (invalid.go)
					inv, ok := cfg.(*invalidConfig)
					if err != nil || !ok {
						t.Fatalf("route Parse = %T, %v; want an *invalidConfig and no error", cfg, err)
					}
					err = inv.r.err
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "btp: ") {
					t.Fatalf("Parse error = %v, want one naming %q", err, tc.wantErr)
				}
			}
		})
	}
}

func TestStatsDefinedAtFilterLevel(t *testing.T) {
	cb := newConfigCallbacks()
	if _, err := (ConfigParser{}).Parse(typedStruct(t, `{}`), cb); err != nil {
		t.Fatal(err)
	}
	for c := range filter.NumCounters {
		if _, ok := cb.counters[c.Name()]; !ok {
			t.Errorf("counter %s not defined", c.Name())
		}
	}
	if _, ok := cb.counters[ConfigInvalidCounter]; !ok {
		t.Errorf("counter %s not defined", ConfigInvalidCounter)
	}
	if len(cb.counters) != int(filter.NumCounters)+1 {
		t.Errorf("defined %d counters, want %d", len(cb.counters), filter.NumCounters+1)
	}
}

func TestRateLimit(t *testing.T) {
	const cfg = `{"rateLimit":{"type":"Local","local":{"rules":[
		{"clientSelectors":[{"headers":[{"type":"Distinct","name":"x-user"}]}],"limit":{"requests":2,"unit":"Minute"}},
		{"clientSelectors":[{"sourceCIDR":{"type":"Exact","value":"10.1.0.0/16"}}],"limit":{"requests":1,"unit":"Hour"}}
	]}}}`
	r := newRig(t, `{}`, cfg)
	type step struct {
		remote, user string
		want         int // 0 = forwarded upstream, else the local reply status
		remaining    string
	}
	steps := []step{
		{"192.0.2.1:1000", "alice", 0, "1"},
		{"192.0.2.1:1000", "alice", 0, "0"},
		{"192.0.2.1:1000", "alice", 429, "0"},
		{"192.0.2.1:1000", "bob", 0, "1"}, // Distinct: bob has his own bucket
		{"10.1.2.3:1000", "", 0, "0"},     // second rule: one an hour from 10.1/16
		{"10.1.9.9:1000", "", 429, "0"},
		// No rule matches: Envoy Gateway's implied default bucket of
		// 4294967295 per second answers, with its headers.
		{"192.0.2.1:1000", "", 0, "4294967295"},
	}
	for i, s := range steps {
		var kv []string
		if s.user != "" {
			kv = []string{"x-user", s.user}
		}
		q := r.request(s.remote, "GET", "/", kv...)
		st := q.f.DecodeHeaders(q.req, true)
		if s.want != 0 {
			rs := q.replies()
			if st != api.LocalReply || len(rs) != 1 || rs[0].status != s.want {
				t.Fatalf("step %d: status %v replies %+v, want local reply %d", i, st, rs, s.want)
			}
			if got := rs[0].headers["x-ratelimit-remaining"]; len(got) != 1 || got[0] != s.remaining {
				t.Errorf("step %d: 429 x-ratelimit-remaining %v, want %s", i, got, s.remaining)
			}
			if len(rs[0].headers["x-ratelimit-limit"]) != 1 || len(rs[0].headers["x-ratelimit-reset"]) != 1 {
				t.Errorf("step %d: 429 without x-ratelimit-limit/reset: %v", i, rs[0].headers)
			}
			continue
		}
		if st != api.Continue {
			t.Fatalf("step %d: DecodeHeaders = %v, want Continue", i, st)
		}
		resp := newHeaders(":status", "200")
		if st := q.f.EncodeHeaders(resp, false); st != api.Continue {
			t.Fatalf("step %d: EncodeHeaders = %v", i, st)
		}
		if got := resp.value("x-ratelimit-remaining"); got != s.remaining {
			t.Errorf("step %d: response x-ratelimit-remaining %q, want %q", i, got, s.remaining)
		}
		q.f.OnStreamComplete()
		q.f.OnDestroy(api.Normal)
	}
	if got := r.stats.count("btp.ratelimit.over_limit"); got != 2 {
		t.Errorf("btp.ratelimit.over_limit = %d, want 2", got)
	}
}

func TestFaultAbort(t *testing.T) {
	r := newRig(t, `{"faultInjection":{"abort":{"httpStatus":503,"percentage":100}}}`, "")
	q := r.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(q.req, true); st != api.LocalReply {
		t.Fatalf("DecodeHeaders = %v, want LocalReply", st)
	}
	rs := q.replies()
	if len(rs) != 1 || rs[0].status != 503 || rs[0].body != "fault filter abort" || rs[0].grpcStatus != 14 {
		t.Fatalf("replies %+v", rs)
	}

	g := newRig(t, `{"faultInjection":{"abort":{"grpcStatus":8,"percentage":100}}}`, "")
	q = g.request("192.0.2.1:1", "POST", "/pkg.Svc/Call", "content-type", "application/grpc")
	if st := q.f.DecodeHeaders(q.req, false); st != api.LocalReply {
		t.Fatalf("gRPC DecodeHeaders = %v, want LocalReply", st)
	}
	rs = q.replies()
	if len(rs) != 1 || rs[0].grpcStatus != 8 {
		t.Fatalf("gRPC replies %+v, want grpcStatus 8 for Envoy to shape", rs)
	}
	if g.stats.count("btp.fault.aborts") != 1 {
		t.Errorf("btp.fault.aborts = %d", g.stats.count("btp.fault.aborts"))
	}

	none := newRig(t, `{"faultInjection":{"abort":{"httpStatus":503,"percentage":0}}}`, "")
	q = none.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(q.req, true); st != api.Continue || len(q.replies()) != 0 {
		t.Fatalf("0%% abort: %v %+v", st, q.replies())
	}
}

func TestFaultDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	t.Run("continues after the delay", func(t *testing.T) {
		r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"30ms","percentage":100}},
			"timeout":{"http":{"requestTimeout":"2s"}}}`, "")
		q := r.request("192.0.2.1:1", "GET", "/")
		start := time.Now()
		if st := q.f.DecodeHeaders(q.req, true); st != api.Running {
			t.Fatalf("DecodeHeaders = %v, want Running (the worker must not wait)", st)
		}
		if _, cs := q.h.dec.snapshot(); len(cs) != 0 {
			t.Fatalf("continued before the delay: %v", cs)
		}
		waitDone(t, q.h.dec)
		if el := time.Since(start); el < delay {
			t.Errorf("continued after %v, before the %v delay", el, delay)
		}
		rs, cs := q.h.dec.snapshot()
		if len(rs) != 0 || len(cs) != 1 || cs[0] != api.Continue {
			t.Fatalf("after delay: replies %+v continues %v", rs, cs)
		}
		// the rules after the delay ran on the goroutine, on the same headers
		if got := q.req.value("x-envoy-upstream-rq-timeout-ms"); got != "2000" {
			t.Errorf("timeout header after delay = %q, want 2000", got)
		}
		if r.stats.count("btp.fault.delays") != 1 {
			t.Errorf("btp.fault.delays = %d", r.stats.count("btp.fault.delays"))
		}
	})
	t.Run("then aborts", func(t *testing.T) {
		r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"30ms"},"abort":{"httpStatus":418}}}`, "")
		q := r.request("192.0.2.1:1", "GET", "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Running {
			t.Fatalf("DecodeHeaders = %v, want Running", st)
		}
		waitDone(t, q.h.dec)
		rs, cs := q.h.dec.snapshot()
		if len(rs) != 1 || rs[0].status != 418 || len(cs) != 0 {
			t.Fatalf("replies %+v continues %v, want one 418 reply", rs, cs)
		}
	})
	t.Run("stream destroyed during the delay", func(t *testing.T) {
		r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"30ms"}}}`, "")
		q := r.request("192.0.2.1:1", "GET", "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Running {
			t.Fatalf("DecodeHeaders = %v, want Running", st)
		}
		q.f.OnStreamComplete()
		q.f.OnDestroy(api.Terminate)
		time.Sleep(3 * delay)
		if rs, cs := q.h.dec.snapshot(); len(rs) != 0 || len(cs) != 0 {
			t.Fatalf("called back into a destroyed stream: replies %+v continues %v", rs, cs)
		}
	})
	t.Run("Envoy answers during the delay", func(t *testing.T) {
		// the route timeout fires first: Envoy encodes its own 504 through
		// the filter while the delay's goroutine still waits
		r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"30ms"}},
			"responseOverride":[{"match":{"statusCodes":[{"value":504}]},"response":{"body":{"inline":"slow"}}}]}`, "")
		q := r.request("192.0.2.1:1", "GET", "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Running {
			t.Fatalf("DecodeHeaders = %v, want Running", st)
		}
		if st := q.f.EncodeHeaders(newHeaders(":status", "504"), false); st != api.LocalReply {
			t.Fatalf("EncodeHeaders(504) = %v, want the override", st)
		}
		q.f.OnStreamComplete()
		time.Sleep(3 * delay)
		if rs, cs := q.h.dec.snapshot(); len(rs) != 0 || len(cs) != 0 {
			t.Fatalf("resumed a completed stream: replies %+v continues %v", rs, cs)
		}
		q.f.OnDestroy(api.Normal)
	})
	t.Run("then buffers the body", func(t *testing.T) {
		r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"10ms"}},"requestBuffer":{"limit":"8"}}`, "")
		q := r.request("192.0.2.1:1", "POST", "/")
		if st := q.f.DecodeHeaders(q.req, false); st != api.Running {
			t.Fatalf("DecodeHeaders = %v, want Running", st)
		}
		waitDone(t, q.h.dec)
		if _, cs := q.h.dec.snapshot(); len(cs) != 1 || cs[0] != api.StopAndBufferWatermark {
			t.Fatalf("after delay: continues %v, want StopAndBufferWatermark", cs)
		}
		if st := q.f.DecodeData(newBuffer("123456789"), true); st != api.LocalReply {
			t.Fatalf("9 bytes over an 8-byte limit: %v", st)
		}
	})
}

func TestRequestBuffer(t *testing.T) {
	r := newRig(t, `{"requestBuffer":{"limit":"10"}}`, "")
	type chunk struct {
		data string
		end  bool
		want api.StatusType
	}
	tests := []struct {
		name        string
		kv          []string
		headersWant api.StatusType
		chunks      []chunk
		trailers    bool
		want413     bool
	}{
		{"content-length over the limit is refused at headers", []string{"content-length", "11"}, api.LocalReply, nil, false, true},
		{"streamed body refused once it passes the limit", nil, api.StopAndBufferWatermark, []chunk{
			{"123456", false, api.StopAndBufferWatermark},
			{"123456", false, api.LocalReply},
		}, false, true},
		{"body within the limit goes up whole", []string{"content-length", "10"}, api.StopAndBufferWatermark, []chunk{
			{"12345", false, api.StopAndBufferWatermark},
			{"12345", true, api.Continue},
		}, false, false},
		{"body then trailers", nil, api.StopAndBufferWatermark, []chunk{
			{"1234", false, api.StopAndBufferWatermark},
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := r.request("192.0.2.1:1", "POST", "/upload", tc.kv...)
			if st := q.f.DecodeHeaders(q.req, false); st != tc.headersWant {
				t.Fatalf("DecodeHeaders = %v, want %v", st, tc.headersWant)
			}
			for i, c := range tc.chunks {
				if st := q.f.DecodeData(newBuffer(c.data), c.end); st != c.want {
					t.Fatalf("chunk %d: DecodeData = %v, want %v", i, st, c.want)
				}
			}
			if tc.trailers {
				if st := q.f.DecodeTrailers(newHeaders("x-checksum", "1")); st != api.Running {
					t.Fatalf("DecodeTrailers = %v, want Running (Envoy forwards held data only on an async Continue)", st)
				}
				waitDone(t, q.h.dec)
				if _, cs := q.h.dec.snapshot(); len(cs) != 1 || cs[0] != api.Continue {
					t.Fatalf("trailers continued with %v", cs)
				}
			}
			rs := q.replies()
			if tc.want413 != (len(rs) == 1 && rs[0].status == 413) || !tc.want413 && len(rs) != 0 {
				t.Fatalf("replies %+v, want 413: %v", rs, tc.want413)
			}
		})
	}
	if got := r.stats.count("btp.buffer.too_large"); got != 2 {
		t.Errorf("btp.buffer.too_large = %d, want 2", got)
	}

	// A request without a body never waits for one.
	q := r.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
		t.Fatalf("bodiless request: %v", st)
	}
	// Trailers on a request that was not held continue synchronously.
	plain := newRig(t, `{}`, "")
	q = plain.request("192.0.2.1:1", "POST", "/")
	q.f.DecodeHeaders(q.req, false)
	q.f.DecodeData(newBuffer("abc"), false)
	if st := q.f.DecodeTrailers(newHeaders("x", "1")); st != api.Continue {
		t.Fatalf("trailers without buffering: %v", st)
	}
}

func TestResponseOverride(t *testing.T) {
	r := newRig(t, `{}`, `{"responseOverride":[
		{"match":{"statusCodes":[{"type":"Range","range":{"start":500,"end":502}}]},
		 "response":{"statusCode":503,"contentType":"application/json","body":{"type":"Inline","inline":"{\"error\":\"down\"}"}}},
		{"match":{"statusCodes":[{"value":404}]},"response":{"body":{"inline":"nothing here"}}}]}`)
	tests := []struct {
		status   string
		want     int
		body, ct string
	}{
		{"501", 503, `{"error":"down"}`, "application/json"},
		{"404", 404, "nothing here", ""},
		{"200", 0, "", ""},
		{"503", 0, "", ""},
	}
	for _, tc := range tests {
		q := r.request("192.0.2.1:1", "GET", "/")
		q.f.DecodeHeaders(q.req, true)
		st := q.f.EncodeHeaders(newHeaders(":status", tc.status), false)
		rs, _ := q.h.enc.snapshot()
		if tc.want == 0 {
			if st != api.Continue || len(rs) != 0 {
				t.Errorf("%s: %v %+v, want untouched", tc.status, st, rs)
			}
			continue
		}
		if st != api.LocalReply || len(rs) != 1 || rs[0].status != tc.want || rs[0].body != tc.body {
			t.Fatalf("%s: %v %+v", tc.status, st, rs)
		}
		if got := rs[0].headers["content-type"]; tc.ct != "" && (len(got) != 1 || got[0] != tc.ct) {
			t.Errorf("%s: content-type %v, want %s", tc.status, got, tc.ct)
		}
		if rs, _ := q.h.dec.snapshot(); len(rs) != 0 {
			t.Errorf("%s: override sent through the decoder callbacks", tc.status)
		}
	}
	if got := r.stats.count("btp.override.applied"); got != 2 {
		t.Errorf("btp.override.applied = %d, want 2 (route config counts into the filter-level stats)", got)
	}
}

// The override's format reads the protocol and Envoy's response code
// details through the SDK, as the dynamic-module host does
// (plugin/dynmod/adapter TestResponseOverrideFormat: same config, same reply).
func TestResponseOverrideFormat(t *testing.T) {
	r := newRig(t, `{}`, overrideFormatConfig)
	q := r.request("192.0.2.1:1", "GET", "/")
	q.req = newHeaders(":method", "GET", ":path", "/", "x-user-id", "u1")
	q.f.DecodeHeaders(q.req, true)
	if st := q.f.EncodeHeaders(newHeaders(":status", "503"), false); st != api.LocalReply {
		t.Fatalf("EncodeHeaders(503) = %v, want the override", st)
	}
	rs, _ := q.h.enc.snapshot()
	if len(rs) != 1 || rs[0].status != 503 || rs[0].body != overrideFormatBody {
		t.Fatalf("replies %+v, want 503 %q", rs, overrideFormatBody)
	}
}

const (
	overrideFormatConfig = `{"responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"body":{"inline":"%RESPONSE_CODE% %PROTOCOL% %REQ(x-user-id)% %RESPONSE_CODE_DETAILS%"}}}]}`
	overrideFormatBody   = "503 HTTP/2 u1 upstream_reset_before_response_started{connection_termination}"
)

func TestRetryAndTimeoutHeaders(t *testing.T) {
	r := newRig(t, `{"timeout":{"http":{"requestTimeout":"1s"}}}`, `{"retry":{"numRetries":3,
		"retryOn":{"triggers":["connect-failure","retriable-status-codes"],"httpStatusCodes":[502,503]},
		"perRetry":{"timeout":"250ms"},"allowNonIdempotent":false}}`)
	tests := []struct {
		method string
		want   map[string]string
	}{
		// The route's retry_policy governs a GET: no retry headers.
		{"GET", map[string]string{
			"x-envoy-max-retries": "", "x-envoy-retry-on": "", "x-envoy-upstream-rq-per-try-timeout-ms": "",
			"x-envoy-upstream-rq-timeout-ms": "1000",
		}},
		{"POST", map[string]string{
			"x-envoy-max-retries": "0", "x-envoy-retry-on": "", "x-envoy-upstream-rq-timeout-ms": "1000",
		}},
	}
	for _, tc := range tests {
		q := r.request("192.0.2.1:1", tc.method, "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
			t.Fatalf("%s: %v", tc.method, st)
		}
		for k, v := range tc.want {
			if got := q.req.value(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.method, k, got, v)
			}
		}
		q.h.info.attempts = 1
		q.f.OnStreamComplete()
	}
	if r.stats.count("btp.retry.non_idempotent") != 1 || r.stats.count("btp.retry.allowed") != 1 {
		t.Errorf("retry counters: allowed %d non_idempotent %d", r.stats.count("btp.retry.allowed"), r.stats.count("btp.retry.non_idempotent"))
	}
}

func TestPanicAnswers500(t *testing.T) {
	r := newRig(t, `{"debug":{"panicHeader":"x-panic"}}`, "")
	q := r.request("192.0.2.1:1", "GET", "/", "x-panic", "1")
	if st := q.f.DecodeHeaders(q.req, true); st != api.LocalReply {
		t.Fatalf("DecodeHeaders = %v, want LocalReply", st)
	}
	rs := q.replies()
	if len(rs) != 1 || rs[0].status != 500 {
		t.Fatalf("replies %+v, want 500", rs)
	}
	if r.stats.count("btp.panics") != 1 {
		t.Errorf("btp.panics = %d", r.stats.count("btp.panics"))
	}
	configLog.Lock()
	logged := strings.Join(configLog.lines, "\n")
	configLog.Unlock()
	if !strings.Contains(logged, "x-panic") {
		t.Errorf("panic not logged; log: %q", logged)
	}
	// the next request on the same config is served normally
	q = r.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
		t.Fatalf("after a panic: %v", st)
	}
}

// TestAdapterPanic: a panic in the adapter's own code (here: the response
// map blows up when the adapter reads :status) is turned into a 500 and
// logged through the request's callbacks, never into a crash. A panic in a
// header map the engine calls is caught by the engine's own guard.
func TestAdapterPanic(t *testing.T) {
	// an override, so the adapter reads :status
	r := newRig(t, `{"timeout":{"http":{"requestTimeout":"1s"}},
		"responseOverride":[{"match":{"statusCodes":[{"value":500}]},"response":{"statusCode":503}}]}`, "")
	q := r.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
		t.Fatalf("DecodeHeaders = %v", st)
	}
	if st := q.f.EncodeHeaders(explodingRead{newHeaders(":status", "200")}, false); st != api.LocalReply {
		t.Fatalf("EncodeHeaders = %v, want LocalReply", st)
	}
	if rs, _ := q.h.enc.snapshot(); len(rs) != 1 || rs[0].status != 500 {
		t.Fatalf("replies %+v", rs)
	}
	logs := q.h.logged()
	if len(logs) == 0 || logs[0].level != api.Error || !strings.Contains(logs[0].msg, "header map exploded") {
		t.Fatalf("logs %+v", logs)
	}

	q = r.request("192.0.2.1:1", "GET", "/")
	if st := q.f.DecodeHeaders(explodingHeaders{q.req}, true); st != api.LocalReply {
		t.Fatalf("engine-side panic: DecodeHeaders = %v, want LocalReply", st)
	}
	if rs := q.replies(); len(rs) != 1 || rs[0].status != 500 {
		t.Fatalf("engine-side panic: replies %+v", rs)
	}
	if r.stats.count("btp.panics") != 1 {
		t.Errorf("btp.panics = %d, want 1 (the engine counts its own)", r.stats.count("btp.panics"))
	}
}

type explodingHeaders struct{ *fakeHeaders }

func (explodingHeaders) Set(string, string) { panic("header map exploded") }

type explodingRead struct{ *fakeHeaders }

func (explodingRead) GetRaw(string) string { panic("header map exploded") }

// TestFetchesOnlyWhatRulesNeed: a request costs Envoy lookups only for the
// headers and stream info its config's rules name. Reads never copy the
// whole header map, also when a named header is missing; the one copy left
// is the SDK's own, made when a callback first writes a header.
func TestFetchesOnlyWhatRulesNeed(t *testing.T) {
	const userRule = `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","value":"a"}]}],"limit":{"requests":9,"unit":"Second"}}]}}}`
	tests := []struct {
		name              string
		cfg               string
		kv                []string
		want              map[string]int // request header -> lookups
		remote            bool           // downstream address read
		reqCopy, respCopy int            // whole-map copies by the SDK's Set
	}{
		{"no rules", `{}`, nil, map[string]int{}, false, 0, 0},
		{"header rule", userRule, []string{"x-user", "a"}, map[string]int{"x-user": 1}, false, 0, 1},
		// No rule matched: the implied default bucket's x-ratelimit-* are written.
		{"header rule, header missing", userRule, nil, map[string]int{"x-user": 1}, false, 0, 1},
		{"source rule", `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"value":"0.0.0.0/0"}}],"limit":{"requests":9,"unit":"Second"}}]}}}`,
			nil, map[string]int{}, true, 0, 1},
		// A GET may retry under the route's retry_policy: nothing is written.
		{"retry", `{"retry":{"numRetries":1,"allowNonIdempotent":false}}`, nil, map[string]int{":method": 1}, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.cfg, "")
			q := r.request("192.0.2.1:1", "GET", "/", tc.kv...)
			if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
				t.Fatalf("DecodeHeaders = %v", st)
			}
			resp := newHeaders(":status", "200")
			if st := q.f.EncodeHeaders(resp, false); st != api.Continue {
				t.Fatalf("EncodeHeaders = %v", st)
			}
			got := q.req.fetches()
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("fetched %s %d times, want %d (all: %v)", k, got[k], n, got)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("fetched %s, which no rule needs (all: %v)", k, got)
				}
			}
			if q.req.copies != tc.reqCopy || resp.copies != tc.respCopy {
				t.Errorf("whole-map copies: request %d, response %d; want %d, %d", q.req.copies, resp.copies, tc.reqCopy, tc.respCopy)
			}
			if (q.h.info.reads.Load() > 0) != tc.remote {
				t.Errorf("stream info reads %d, want some: %v", q.h.info.reads.Load(), tc.remote)
			}
		})
	}
}

// TestEmptyHeaderValue: GetRaw cannot tell an empty header from a missing
// one, and asking Get would copy the whole map on every miss; so on this host
// an empty value counts as absent, and no lookup copies the map.
func TestEmptyHeaderValue(t *testing.T) {
	h := newHeaders("x-empty", "", "x-set", "v")
	v := &requestView{h: h}
	if got, ok := v.Header("x-set"); !ok || got != "v" {
		t.Errorf("x-set: %q %v", got, ok)
	}
	if got, ok := v.Header("x-empty"); ok || got != "" {
		t.Errorf("empty header: %q %v, want absent", got, ok)
	}
	if _, ok := v.Header("x-missing"); ok {
		t.Error("missing header reported present")
	}
	if h.copies != 0 {
		t.Errorf("copied the header map %d times", h.copies)
	}
}

func TestGRPCStatusForPlainReplies(t *testing.T) {
	for status, want := range map[int]int64{429: 14, 413: 2, 503: 14, 500: 2, 403: 7} {
		if got := int64(filter.GRPCStatusForHTTP(status)); got != want {
			t.Errorf("GRPCStatusForHTTP(%d) = %d, want %d", status, got, want)
		}
	}
	// a plain 429 to a gRPC client carries UNAVAILABLE, never -1
	r := newRig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}}}`, "")
	for i := range 2 {
		q := r.request("192.0.2.1:1", "POST", "/pkg.Svc/Call", "content-type", "application/grpc")
		q.f.DecodeHeaders(q.req, false)
		if i == 1 {
			rs := q.replies()
			if len(rs) != 1 || rs[0].status != 429 || rs[0].grpcStatus != 14 {
				t.Fatalf("replies %+v", rs)
			}
		}
	}
}

// TestRateLimitSelectors: each kind of clientSelector reads the request
// through the adapter's view (method, path, headers, source address) and
// limits only what it selects. Every rule allows one request an hour.
func TestRateLimitSelectors(t *testing.T) {
	type req struct {
		remote, method, path string
		kv                   []string
	}
	tests := []struct {
		name     string
		selector string
		match    req // limited after its first request
		other    req // never limited
	}{
		{"method", `{"methods":[{"value":"POST"}]}`,
			req{"192.0.2.1:1", "POST", "/", nil}, req{"192.0.2.1:1", "GET", "/", nil}},
		{"method inverted", `{"methods":[{"value":"POST","invert":true}]}`,
			req{"192.0.2.1:1", "GET", "/", nil}, req{"192.0.2.1:1", "POST", "/", nil}},
		{"path prefix", `{"path":{"value":"/api"}}`,
			req{"192.0.2.1:1", "GET", "/api/users?x=1", nil}, req{"192.0.2.1:1", "GET", "/web", nil}},
		{"path exact", `{"path":{"type":"Exact","value":"/login"}}`,
			req{"192.0.2.1:1", "GET", "/login", nil}, req{"192.0.2.1:1", "GET", "/login/x", nil}},
		{"header regex", `{"headers":[{"type":"RegularExpression","name":"x-tier","value":"free|trial"}]}`,
			req{"192.0.2.1:1", "GET", "/", []string{"x-tier", "trial"}}, req{"192.0.2.1:1", "GET", "/", []string{"x-tier", "gold"}}},
		{"header inverted", `{"headers":[{"name":"x-tier","value":"gold","invert":true}]}`,
			req{"192.0.2.1:1", "GET", "/", []string{"x-tier", "free"}}, req{"192.0.2.1:1", "GET", "/", []string{"x-tier", "gold"}}},
		{"source CIDR", `{"sourceCIDR":{"value":"198.51.100.0/24"}}`,
			req{"198.51.100.7:4000", "GET", "/", nil}, req{"203.0.113.9:4000", "GET", "/", nil}},
		{"source CIDR IPv6", `{"sourceCIDR":{"value":"2001:db8::/32"}}`,
			req{"[2001:db8::1]:4000", "GET", "/", nil}, req{"[2001:db9::1]:4000", "GET", "/", nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, `{}`, `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[`+tc.selector+`],"limit":{"requests":1,"unit":"Hour"}}]}}}`)
			send := func(q req) api.StatusType {
				rq := r.request(q.remote, q.method, q.path, q.kv...)
				st := rq.f.DecodeHeaders(rq.req, true)
				rq.f.OnStreamComplete()
				return st
			}
			if st := send(tc.match); st != api.Continue {
				t.Fatalf("first selected request: %v", st)
			}
			if st := send(tc.match); st != api.LocalReply {
				t.Fatalf("second selected request: %v, want the 429", st)
			}
			for i := range 3 {
				if st := send(tc.other); st != api.Continue {
					t.Fatalf("unselected request %d: %v", i, st)
				}
			}
		})
	}
}

// TestRateLimitCost: a request cost spends that many tokens.
func TestRateLimitCost(t *testing.T) {
	r := newRig(t, `{}`, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":5,"unit":"Hour"},
		"cost":{"request":{"from":"Number","number":2}}}]}}}`)
	var got []api.StatusType
	for range 4 {
		q := r.request("192.0.2.1:1", "GET", "/")
		got = append(got, q.f.DecodeHeaders(q.req, true))
		q.f.OnStreamComplete()
	}
	want := []api.StatusType{api.Continue, api.Continue, api.LocalReply, api.LocalReply}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v (5 tokens, 2 a request)", got, want)
	}
}

// TestConcurrentRequests: requests on many goroutines (Envoy's workers)
// share one route config and its bucket; each has its own filter. Exactly
// the limit gets through, and -race sees no unsynchronised state.
func TestConcurrentRequests(t *testing.T) {
	r := newRig(t, `{}`, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":100,"unit":"Hour"}}]}},
		"retry":{"numRetries":1},"timeout":{"http":{"requestTimeout":"1s"}}}`)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				q := r.request("192.0.2.1:1", "GET", "/")
				st := q.f.DecodeHeaders(q.req, true)
				if st == api.Continue {
					q.f.EncodeHeaders(newHeaders(":status", "200"), false)
					mu.Lock()
					passed++
					mu.Unlock()
				}
				q.h.info.attempts = 1
				q.f.OnStreamComplete()
				q.f.OnDestroy(api.Normal)
			}
		}()
	}
	wg.Wait()
	if passed != 100 {
		t.Fatalf("%d of %d requests passed a limit of 100", passed, workers*each)
	}
	if got := r.stats.count("btp.ratelimit.over_limit"); got != workers*each-100 {
		t.Errorf("btp.ratelimit.over_limit = %d, want %d", got, workers*each-100)
	}
}

// TestDelayRacesEncode: the delay's timer and an Envoy-side reply (encode
// callbacks and stream completion on the worker) race; whichever wins, the
// stream is answered once, and -race sees the adapter serialise them.
func TestDelayRacesEncode(t *testing.T) {
	r := newRig(t, `{"faultInjection":{"delay":{"fixedDelay":"1ms"}},
		"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":100000,"unit":"Second"}}]}},
		"responseOverride":[{"match":{"statusCodes":[{"value":504}]},"response":{"body":{"inline":"slow"}}}]}`, "")
	for i := range 40 {
		q := r.request("192.0.2.1:1", "GET", "/")
		if st := q.f.DecodeHeaders(q.req, true); st != api.Running {
			t.Fatalf("DecodeHeaders = %v", st)
		}
		time.Sleep(time.Duration(i%3) * 500 * time.Microsecond)
		q.f.EncodeHeaders(newHeaders(":status", "504"), false)
		q.f.OnStreamComplete()
		q.f.OnDestroy(api.Normal)
		time.Sleep(3 * time.Millisecond)
		if _, cs := q.h.dec.snapshot(); len(cs) > 1 {
			t.Fatalf("request %d continued %d times", i, len(cs))
		}
	}
}

// TestMergeRouteOverDefaults: a route's config overrides the filter-level
// defaults feature by feature, the rest of the defaults still apply, and a
// route without btp config runs on the defaults alone.
func TestMergeRouteOverDefaults(t *testing.T) {
	const defaults = `{"timeout":{"http":{"requestTimeout":"1s"}},
		"faultInjection":{"abort":{"httpStatus":418,"percentage":0}}}`
	tests := []struct {
		name, route string
		timeoutMS   string
	}{
		{"route overrides the timeout", `{"timeout":{"http":{"requestTimeout":"2500ms"}}}`, "2500"},
		{"route sets another feature", `{"retry":{"numRetries":1}}`, "1000"},
		{"no route config", "", "1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, defaults, tc.route)
			q := r.request("192.0.2.1:1", "GET", "/")
			if st := q.f.DecodeHeaders(q.req, true); st != api.Continue {
				t.Fatalf("DecodeHeaders = %v", st)
			}
			if got := q.req.value("x-envoy-upstream-rq-timeout-ms"); got != tc.timeoutMS {
				t.Errorf("timeout header %q, want %q", got, tc.timeoutMS)
			}
		})
	}
	// Merging twice under the same parent gives the same config (Envoy merges
	// per route and may do so again; state such as buckets must not fork).
	var p ConfigParser
	parent, _ := p.Parse(typedStruct(t, defaults), newConfigCallbacks())
	child, _ := p.Parse(typedStruct(t, `{"retry":{"numRetries":1}}`), nil)
	if a, b := p.Merge(parent, child), p.Merge(parent, child); a != b {
		t.Error("two merges of the same configs gave different configs")
	}
}
