package adapter

import (
	"strings"
	"testing"
	"time"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/envoy-btp/envoy-btp/filter"
)

// newStream builds the filter the way Envoy does: filter-level config,
// per-route config, then one stream per request.
func newStream(t *testing.T, filterJSON, routeJSON string, headers map[string][]string) (*Stream, *fakeHandle, *fakeConfigHandle) {
	t.Helper()
	ch := &fakeConfigHandle{}
	ff, err := NewFactory(ch, []byte(filterJSON))
	if err != nil {
		t.Fatalf("filter config: %v", err)
	}
	var route *filter.Config
	if routeJSON != "" {
		if route, err = ParseRouteConfig([]byte(routeJSON)); err != nil {
			t.Fatalf("route config: %v", err)
		}
	}
	h := newFakeHandle(route, headers)
	s := &Stream{}
	s.Start(ff, h)
	return s, h, ch
}

func get(path string, extra ...string) map[string][]string {
	m := map[string][]string{":method": {"GET"}, ":path": {path}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = []string{extra[i+1]}
	}
	return m
}

// countOf is the value Envoy got for counter c.
func countOf(h *fakeHandle, ch *fakeConfigHandle, c filter.Counter) uint64 {
	for i, name := range ch.counters {
		if name == StatName(c) {
			return h.counts[uint64(i+1)]
		}
	}
	return 0
}

func TestConfigErrorsNameTheField(t *testing.T) {
	_, err := NewFactory(&fakeConfigHandle{}, []byte(`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Sec"}}]}}}`))
	if err == nil || !strings.Contains(err.Error(), "btp filter config: rateLimit.local.rules[0].limit.unit") {
		t.Errorf("filter config error %v, want it to name rateLimit.local.rules[0].limit.unit", err)
	}
	_, err = ParseRouteConfig([]byte(`{"requestBuffer":{"limit":"lots"}}`))
	if err == nil || !strings.Contains(err.Error(), "btp per-route config: requestBuffer.limit") {
		t.Errorf("per-route error %v, want it to name requestBuffer.limit", err)
	}
	if _, err := NewFactory(&fakeConfigHandle{}, nil); err != nil {
		t.Errorf("empty filter config: %v, want the empty defaults", err)
	}
}

func TestCountersAreDefinedUnderTheirStatNames(t *testing.T) {
	_, _, ch := newStream(t, "{}", "", get("/"))
	if len(ch.counters) != int(filter.NumCounters) {
		t.Fatalf("defined %d counters, want %d", len(ch.counters), filter.NumCounters)
	}
	if ch.counters[filter.RateLimitOverLimit] != "ratelimit.over_limit" {
		t.Errorf("counter name %q, want ratelimit.over_limit (metrics_namespace btp adds the prefix)", ch.counters[filter.RateLimitOverLimit])
	}
}

func TestRateLimitReplyAndCounter(t *testing.T) {
	route := `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"sourceCIDR":{"value":"10.0.0.0/8"}}],"limit":{"requests":1,"unit":"Hour"}}]}}}`
	ch := &fakeConfigHandle{}
	ff, _ := NewFactory(ch, []byte("{}"))
	rc, err := ParseRouteConfig([]byte(route))
	if err != nil {
		t.Fatal(err)
	}
	var last *fakeHandle
	s := &Stream{} // reused across requests, as the host does
	for i, want := range []Status{Continue, Stop} {
		h := newFakeHandle(rc, get("/"))
		s.Start(ff, h)
		if got := s.OnRequestHeaders(true); got != want {
			t.Fatalf("request %d: status %v, want %v", i, got, want)
		}
		s.OnStreamComplete(1)
		last = h
	}
	if len(last.replies) != 1 || last.replies[0].status != 429 {
		t.Fatalf("second request replies %+v, want one 429", last.replies)
	}
	if !hasHeader(last.replies[0].headers, "x-ratelimit-limit", "1") {
		t.Errorf("429 headers %v lack x-ratelimit-limit: 1", last.replies[0].headers)
	}
	if got := countOf(last, ch, filter.RateLimitOverLimit); got != 1 {
		t.Errorf("over_limit counted %d through the stream's handle, want 1", got)
	}
}

func hasHeader(hs [][2]string, k, v string) bool {
	for _, h := range hs {
		if h[0] == k && h[1] == v {
			return true
		}
	}
	return false
}

func TestDelayResumesThroughTheScheduler(t *testing.T) {
	s, h, _ := newStream(t, "{}", `{"faultInjection":{"delay":{"fixedDelay":"20ms"}}}`, get("/"))
	start := time.Now()
	if got := s.OnRequestHeaders(true); got != Stop {
		t.Fatalf("headers status %v, want Stop while delayed", got)
	}
	if h.continued != 0 {
		t.Fatal("continued before the delay passed")
	}
	var task func()
	select {
	case task = <-h.tasks:
	case <-time.After(2 * time.Second):
		t.Fatal("the delay never scheduled its resume")
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("resume scheduled after %v, want >= 20ms", took)
	}
	task() // Envoy runs it on the worker thread
	if h.continued != 1 {
		t.Errorf("ContinueRequest called %d times, want 1", h.continued)
	}
}

func TestDelayHoldsTheBodyAndBufferStillCounts(t *testing.T) {
	route := `{"faultInjection":{"delay":{"fixedDelay":"10ms"}},"requestBuffer":{"limit":"100"}}`
	s, h, _ := newStream(t, "{}", route, map[string][]string{":method": {"POST"}, ":path": {"/"}})
	if got := s.OnRequestHeaders(false); got != Stop {
		t.Fatalf("headers: %v, want Stop", got)
	}
	if got := s.OnRequestBody(60, false); got != StopAndBuffer {
		t.Fatalf("body during the delay: %v, want StopAndBuffer", got)
	}
	if got := s.OnRequestBody(60, true); got != StopNoBuffer {
		t.Fatalf("body over the limit: %v, want StopNoBuffer after the 413", got)
	}
	if len(h.replies) != 1 || h.replies[0].status != 413 {
		t.Fatalf("replies %+v, want one 413", h.replies)
	}
	(<-h.tasks)() // the delay fires after the reply: nothing more happens
	if h.continued != 0 || len(h.replies) != 1 {
		t.Errorf("after the reply the resume continued %d times, replied %d times", h.continued, len(h.replies))
	}
}

func TestDelayedBodyUnderTheLimitContinuesAfterTheDelay(t *testing.T) {
	route := `{"faultInjection":{"delay":{"fixedDelay":"10ms"}},"requestBuffer":{"limit":"100"}}`
	s, h, _ := newStream(t, "{}", route, map[string][]string{":method": {"POST"}, ":path": {"/"}})
	s.OnRequestHeaders(false)
	if got := s.OnRequestBody(50, true); got != StopAndBuffer {
		t.Fatalf("whole body during the delay: %v, want StopAndBuffer until the delay passes", got)
	}
	(<-h.tasks)()
	if h.continued != 1 || len(h.replies) != 0 {
		t.Errorf("after the delay: continued %d, replies %d; want 1 and 0", h.continued, len(h.replies))
	}
}

func TestEnginePanicIs500(t *testing.T) {
	s, h, ch := newStream(t, `{"debug":{"panicHeader":"x-boom"}}`, "", get("/", "x-boom", "1"))
	if got := s.OnRequestHeaders(true); got != Stop {
		t.Fatalf("status %v, want Stop", got)
	}
	if len(h.replies) != 1 || h.replies[0].status != 500 {
		t.Fatalf("replies %+v, want one 500", h.replies)
	}
	if got := countOf(h, ch, filter.Panics); got != 1 {
		t.Errorf("panics counted %d, want 1", got)
	}
}

func TestHostPanicIs500(t *testing.T) {
	s, h, ch := newStream(t, "{}", "", get("/"))
	h.panicOn = "RouteConfig"
	if got := s.OnRequestHeaders(true); got != Stop {
		t.Fatalf("status %v, want Stop", got)
	}
	if len(h.replies) != 1 || h.replies[0].status != 500 {
		t.Fatalf("replies %+v, want one 500", h.replies)
	}
	if got := countOf(h, ch, filter.Panics); got != 1 {
		t.Errorf("panics counted %d, want 1", got)
	}
	// The stream stays usable for the rest of Envoy's callbacks.
	h.respHdr = newFakeHeaders(map[string][]string{":status": {"500"}})
	s.OnResponseHeaders()
	s.OnStreamComplete(1)
}

func TestResponseOverride(t *testing.T) {
	route := `{"responseOverride":[{"match":{"statusCodes":[{"value":502}]},"response":{"statusCode":503,"contentType":"text/plain","body":{"inline":"try later"}}}]}`
	s, h, _ := newStream(t, "{}", route, get("/"))
	s.OnRequestHeaders(true)
	h.respHdr = newFakeHeaders(map[string][]string{":status": {"502"}})
	if got := s.OnResponseHeaders(); got != Stop {
		t.Fatalf("status %v, want Stop", got)
	}
	if len(h.replies) != 1 || h.replies[0].status != 503 || h.replies[0].body != "try later" || !hasHeader(h.replies[0].headers, "content-type", "text/plain") {
		t.Errorf("replies %+v, want 503 text/plain %q", h.replies, "try later")
	}
}

// The override's format reads the protocol and Envoy's response code
// details through the host's attributes, as the golang host does
// (plugin/golang/adapter TestResponseOverrideFormat: same config, same reply).
func TestResponseOverrideFormat(t *testing.T) {
	const route = `{"responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"body":{"inline":"%RESPONSE_CODE% %PROTOCOL% %REQ(x-user-id)% %RESPONSE_CODE_DETAILS%"}}}]}`
	s, h, _ := newStream(t, "{}", route, get("/", "x-user-id", "u1"))
	s.OnRequestHeaders(true)
	h.respHdr = newFakeHeaders(map[string][]string{":status": {"503"}})
	s.OnResponseHeaders()
	const want = "503 HTTP/2 u1 upstream_reset_before_response_started{connection_termination}"
	if len(h.replies) != 1 || h.replies[0].status != 503 || h.replies[0].body != want {
		t.Errorf("replies %+v, want 503 %q", h.replies, want)
	}
}

func TestStatusParsing(t *testing.T) {
	for in, want := range map[string]int{"200": 200, "503": 503, "": 0, "20x": 0, "2000": 0} {
		if got := parseStatus(in); got != want {
			t.Errorf("status(%q) = %d, want %d", in, got, want)
		}
	}
}

// Envoy passes a udpa.type.v1.TypedStruct to the module as its serialized
// bytes; both configs accept it and its errors still name the field.
func TestUdpaTypedStructConfig(t *testing.T) {
	typed := func(js string) []byte {
		t.Helper()
		st := &structpb.Struct{}
		if err := st.UnmarshalJSON([]byte(js)); err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(&udpav1.TypedStruct{TypeUrl: "type.googleapis.com/envoy-btp.config", Value: st})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ff, err := NewFactory(&fakeConfigHandle{}, typed(`{"retry":{"numRetries":2}}`))
	if err != nil || ff.Inert() {
		t.Fatalf("filter config: %v (inert %v)", err, err == nil && ff.Inert())
	}
	rc, err := ParseRouteConfig(typed(`{"faultInjection":{"abort":{"httpStatus":503}}}`))
	if err != nil || rc.Inert() {
		t.Fatalf("per-route config: %v", err)
	}
	_, err = ParseRouteConfig(typed(`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"unit":"Second"}}]}}}`))
	if err == nil || !strings.Contains(err.Error(), "btp per-route config: rateLimit.local.rules[0].limit.requests: required") {
		t.Errorf("per-route error %v, want it to name rateLimit.local.rules[0].limit.requests", err)
	}
}
