package filter

import (
	"strings"
	"testing"
)

func TestResponseOverride(t *testing.T) {
	const cfg = `{"responseOverride":[
	  {"match":{"statusCodes":[{"value":404}]},"response":{"contentType":"text/html","body":{"inline":"<h1>gone</h1>"},"statusCode":410}},
	  {"match":{"statusCodes":[{"type":"Range","range":{"start":500,"end":503}},{"value":504}]},"response":{"contentType":"application/json","body":{"type":"Inline","inline":"{\"error\":\"upstream\"}"}}},
	  {"match":{"statusCodes":[{"type":"Range","range":{"start":400,"end":599}}]},"response":{"statusCode":418}}
	]}`
	cases := []struct {
		upstream   int
		wantStatus int // 0: not overridden
		wantType   string
		wantBody   string
	}{
		{200, 0, "", ""},
		{404, 410, "text/html", "<h1>gone</h1>"},
		{500, 500, "application/json", `{"error":"upstream"}`},
		{503, 503, "application/json", `{"error":"upstream"}`},
		{504, 504, "application/json", `{"error":"upstream"}`},
		{505, 418, "", ""}, // first match wins: only the catch-all matches
		{401, 418, "", ""},
		{399, 0, "", ""},
	}
	for _, tc := range cases {
		e := newEnv()
		c := mustConfig(t, cfg, e.opts())
		s := c.NewStream()
		wantKind(t, "headers", s.OnRequestHeaders(newReq("GET", "/"), true), Continue)
		a := s.OnResponseHeaders(tc.upstream, newResp())
		if tc.wantStatus == 0 {
			wantKind(t, "response", a, Continue)
			if e.stats.get(OverrideApplied) != 0 {
				t.Fatalf("%d: counted an override", tc.upstream)
			}
			continue
		}
		r := wantReply(t, "response", a, tc.wantStatus)
		if r.ContentType != tc.wantType || r.Body != tc.wantBody || r.GRPCStatus != -1 {
			t.Fatalf("%d: reply %+v", tc.upstream, r)
		}
		if e.stats.get(OverrideApplied) != 1 {
			t.Fatalf("%d: btp.override.applied = %d", tc.upstream, e.stats.get(OverrideApplied))
		}
		// The engine's own reply passes back through the filter untouched.
		wantKind(t, "own reply", s.OnResponseHeaders(r.Status, newResp()), Continue)
	}
}

// Envoy Gateway puts custom_response before fault, buffer and
// local_ratelimit (internal/xds/translator/httpfilters.go), so their local
// replies are overridden like upstream responses. (Before, btp never
// overrode its own replies; that differed from Envoy Gateway.)
func TestOverrideCoversLocalReplies(t *testing.T) {
	const over = `"responseOverride":[
	  {"match":{"statusCodes":[{"value":418}]},"response":{"statusCode":503,"contentType":"text/plain","body":{"inline":"teapot"}}},
	  {"match":{"statusCodes":[{"value":413}]},"response":{"contentType":"application/json","body":{"inline":"{\"error\":\"too big\"}"}}},
	  {"match":{"statusCodes":[{"value":429}]},"response":{"statusCode":503,"body":{"inline":"slow down"}}},
	  {"match":{"statusCodes":[{"value":200}]},"response":{"statusCode":403,"body":{"inline":"grpc denied"}}}
	]`
	t.Run("fault abort", func(t *testing.T) {
		e := newEnv()
		c := mustConfig(t, `{"faultInjection":{"abort":{"httpStatus":418}},`+over+`}`, e.opts())
		s := c.NewStream()
		r := wantReply(t, "abort", s.OnRequestHeaders(newReq("GET", "/"), true), 503)
		if r.Body != "teapot" || r.ContentType != "text/plain" || r.GRPCStatus != -1 {
			t.Fatalf("reply %+v", r)
		}
		if e.stats.get(FaultAborts) != 1 || e.stats.get(OverrideApplied) != 1 {
			t.Fatalf("aborts %d overrides %d", e.stats.get(FaultAborts), e.stats.get(OverrideApplied))
		}
		// The reply does not meet the override a second time.
		wantKind(t, "own reply", s.OnResponseHeaders(503, newResp()), Continue)
		if e.stats.get(OverrideApplied) != 1 {
			t.Fatalf("overridden twice")
		}
	})
	t.Run("buffer 413 keeps its status", func(t *testing.T) {
		c := mustConfig(t, `{"requestBuffer":{"limit":"4"},`+over+`}`, newEnv().opts())
		s := c.NewStream()
		r := wantReply(t, "413", s.OnRequestHeaders(newReq("POST", "/", "content-length", "10"), false), 413)
		if r.Body != `{"error":"too big"}` || r.ContentType != "application/json" {
			t.Fatalf("reply %+v", r)
		}
		// A streamed body over the limit is overridden the same way.
		s = c.NewStream()
		wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/"), false), StopAndBuffer)
		r = wantReply(t, "streamed 413", s.OnRequestBody(5, false), 413)
		if r.Body != `{"error":"too big"}` {
			t.Fatalf("reply %+v", r)
		}
	})
	t.Run("rate limit 429", func(t *testing.T) {
		e := newEnv()
		c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}},`+over+`}`, e.opts())
		wantKind(t, "first", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
		r := wantReply(t, "second", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 503)
		if r.Body != "slow down" {
			t.Fatalf("reply %+v", r)
		}
		// Envoy sends the replacement straight to the codec with fresh
		// headers: local_ratelimit's x-ratelimit-* do not carry over.
		if len(r.Headers) != 0 {
			t.Fatalf("override kept headers %q", r.Headers)
		}
		if e.stats.get(RateLimitOverLimit) != 1 {
			t.Fatalf("over_limit %d", e.stats.get(RateLimitOverLimit))
		}
	})
	t.Run("grpc replies match their wire status 200", func(t *testing.T) {
		c := mustConfig(t, `{"faultInjection":{"abort":{"grpcStatus":14}},`+over+`}`, newEnv().opts())
		r := wantReply(t, "grpc abort", c.NewStream().OnRequestHeaders(newReq("POST", "/", "content-type", "application/grpc"), true), 403)
		// Still a gRPC reply: grpc-status from the new HTTP status, the body
		// as grpc-message.
		if r.GRPCStatus != 7 || r.Body != "grpc denied" {
			t.Fatalf("reply %+v", r)
		}
		if st, _, _ := r.Wire(); st != 200 {
			t.Fatalf("wire status %d", st)
		}
		// The same abort on a plain request is a 503, which no entry matches.
		r = wantReply(t, "plain abort", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 503)
		if r.Body != "fault filter abort" {
			t.Fatalf("reply %+v", r)
		}
	})
}

// An override of a gRPC request's upstream response is a gRPC-shaped
// local reply, as Envoy shapes every local reply to a gRPC request.
func TestOverrideGRPCUpstream(t *testing.T) {
	c := mustConfig(t, `{"responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"contentType":"text/plain","body":{"inline":"later"}}}]}`, newEnv().opts())
	s := c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/", "content-type", "application/grpc+proto"), true), Continue)
	r := wantReply(t, "response", s.OnResponseHeaders(503, newResp()), 503)
	if r.GRPCStatus != 14 || r.ContentType != "" || r.Body != "later" {
		t.Fatalf("reply %+v", r)
	}
}

type protoReq struct {
	*fakeReq
	proto string
}

func (r protoReq) Protocol() string { return r.proto }

type detailsResp struct {
	*fakeResp
	details string
	asked   int
}

func (r *detailsResp) ResponseCodeDetails() string { r.asked++; return r.details }

// Override bodies are Envoy format strings under Envoy Gateway: its e2e
// manifest's "%RESPONSE_CODE% Oops! Your request is not found." answers
// "404 Oops! ..." (test/e2e/testdata/response-override.yaml), and its
// dynamic-variables cases read %REQ(X-User-ID)%.
func TestOverrideFormats(t *testing.T) {
	const cfg = `{"responseOverride":[
	  {"match":{"statusCodes":[{"value":404}]},"response":{"contentType":"text/plain","body":{"inline":"%RESPONSE_CODE% Oops! Your request is not found."}}},
	  {"match":{"statusCodes":[{"value":500}]},"response":{"statusCode":502,"body":{"inline":"Error %RESPONSE_CODE% for user %REQ(X-User-ID)% (%REQ(x-missing)%) via %PROTOCOL% from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%: %RESP(x-upstream):3% 100%%"}}},
	  {"match":{"statusCodes":[{"value":503}]},"response":{"contentType":"text/%REQ(x-kind)%","body":{"inline":"%RESPONSE_CODE_DETAILS%"}}},
	  {"match":{"statusCodes":[{"value":429}]},"response":{"statusCode":503,"body":{"inline":"%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% limit=%RESP(x-ratelimit-limit)%"}}}
	]}`
	c := mustConfig(t, cfg, newEnv().opts())
	respond := func(req Request, status int, resp ResponseHeaders) *Reply {
		t.Helper()
		s := c.NewStream()
		wantKind(t, "headers", s.OnRequestHeaders(req, true), Continue)
		a := s.OnResponseHeaders(status, resp)
		wantKind(t, "response", a, SendReply)
		return a.Reply
	}
	if r := respond(newReq("GET", "/"), 404, newResp()); r.Status != 404 || r.Body != "404 Oops! Your request is not found." || r.ContentType != "text/plain" {
		t.Fatalf("404: %+v", r)
	}
	req := protoReq{newReq("GET", "/", "x-user-id", "user-500"), "HTTP/2"}
	r := respond(req, 500, newResp("x-upstream", "abcdef"))
	if want := "Error 500 for user user-500 (-) via HTTP/2 from 10.0.0.1: abc 100%"; r.Status != 502 || r.Body != want {
		t.Fatalf("500: %+v, want 502 %q", r, want)
	}
	// Request values are read once, at request headers time.
	if req.fetched["x-user-id"] != 1 || req.fetched["x-missing"] != 1 {
		t.Fatalf("fetched %v", req.fetched)
	}
	// Response code details come from the host when it can tell them.
	d := &detailsResp{fakeResp: newResp(), details: "upstream_reset_before_response_started{connection_termination}"}
	if r := respond(newReq("GET", "/", "x-kind", "html"), 503, d); r.Body != d.details || r.ContentType != "text/html" || d.asked != 1 {
		t.Fatalf("503: %+v (asked %d)", r, d.asked)
	}
	if r := respond(newReq("GET", "/"), 503, newResp()); r.Body != "via_upstream" || r.ContentType != "text/-" {
		t.Fatalf("503 without details: %+v", r)
	}

	// A local reply formats its own status, reason and headers.
	rl := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}},`+cfg[1:], newEnv().opts())
	rl.NewStream().OnRequestHeaders(newReq("GET", "/"), true)
	r = wantReply(t, "429", rl.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 503)
	if want := "429 local_rate_limited limit=1"; r.Body != want {
		t.Fatalf("429 body %q, want %q", r.Body, want)
	}
}

// A config whose formats read nothing from the request costs the request
// nothing: no header is fetched for the override.
func TestOverrideStaticCapturesNothing(t *testing.T) {
	c := mustConfig(t, `{"responseOverride":[{"match":{"statusCodes":[{"value":404}]},"response":{"body":{"inline":"%RESPONSE_CODE%"}}}]}`, newEnv().opts())
	req := newReq("GET", "/")
	s := c.NewStream()
	s.OnRequestHeaders(req, true)
	if s.captured != nil {
		t.Fatalf("captured %+v", s.captured)
	}
	if len(req.fetched) != 1 || req.fetched["content-type"] != 1 {
		t.Fatalf("fetched %v, want only content-type (gRPC shape)", req.fetched)
	}
}

// With static formats the override costs no allocation, neither on a
// response it leaves alone nor on one it replaces (the reply is built at
// config load).
func TestOverrideAllocs(t *testing.T) {
	c := mustConfig(t, `{"responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"statusCode":503,"contentType":"text/plain","body":{"inline":"100%% static"}}}]}`, Options{Stats: benchStats{}})
	var s Stream
	req := &benchReq{user: "u", ctype: "application/json"}
	resp := &benchResp{}
	for _, status := range []int{200, 503} {
		allocs := testing.AllocsPerRun(1000, func() {
			s.Init(c)
			s.OnRequestHeaders(req, true)
			s.OnResponseHeaders(status, resp)
			s.OnStreamComplete(1)
		})
		if allocs != 0 {
			t.Errorf("status %d: %v allocations per request, want 0", status, allocs)
		}
	}
}

// match.responseHeaders, response.header and source with Envoy Gateway's
// semantics (internal/gatewayapi/backendtrafficpolicy.go buildResponseOverride,
// internal/xds/translator/custom_response.go): headers AND-ed with each other
// and with statusCodes; header add appends, set replaces; source Local is
// Envoy's own local replies (the local_reply match input), Backend the
// upstream's.
func TestOverrideHeadersAndSource(t *testing.T) {
	const cfg = `{"faultInjection":{"abort":{"httpStatus":500,"percentage":0}},"responseOverride":[
	  {"match":{"statusCodes":[{"value":503}],"responseHeaders":[{"name":"X-Error-Type","value":{"type":"Prefix","value":"upstream-"}},{"name":"x-region","value":{"type":"RegularExpression","value":"us-.*"}}]},
	   "response":{"contentType":"application/json","body":{"inline":"{\"error\":\"combined match\"}"}}},
	  {"match":{"responseHeaders":[{"name":"x-custom-header","value":{"value":"custom-value"}}]},
	   "response":{"contentType":"text/plain","body":{"inline":"matched response header"},
	     "header":{"add":[{"name":"X-Add-Header","value":"added-%RESPONSE_CODE%"},{"name":"cache-control","value":"a"}],"set":[{"name":"Cache-Control","value":"no-cache"},{"name":"content-type","value":"text/x-set"}]}}},
	  {"match":{"statusCodes":[{"value":500}]},"source":"Local","response":{"statusCode":500,"body":{"inline":"local 500"}}},
	  {"match":{"statusCodes":[{"value":500}]},"source":"Backend","response":{"statusCode":500,"body":{"inline":"backend 500"}}}
	]}`
	c := mustConfig(t, cfg, newEnv().opts())
	respond := func(status int, resp ResponseHeaders) *Reply {
		t.Helper()
		s := c.NewStream()
		s.OnRequestHeaders(newReq("GET", "/"), true)
		return s.OnResponseHeaders(status, resp).Reply
	}
	if r := respond(503, newResp("x-error-type", "upstream-timeout", "x-region", "us-east")); r == nil || r.Body != `{"error":"combined match"}` {
		t.Fatalf("combined: %+v", r)
	}
	// Every header must match, and the status too.
	for _, resp := range []*fakeResp{newResp("x-error-type", "upstream-timeout", "x-region", "eu-west"), newResp("x-error-type", "upstream-timeout"), newResp("x-region", "us-east")} {
		if r := respond(503, resp); r != nil {
			t.Fatalf("partial match %v replaced: %+v", resp.headers, r)
		}
	}
	if r := respond(502, newResp("x-error-type", "upstream-timeout", "x-region", "us-east")); r != nil {
		t.Fatalf("status mismatch replaced: %+v", r)
	}
	// The regex matches the whole value, as Envoy's safe_regex.
	if r := respond(503, newResp("x-error-type", "upstream-timeout", "x-region", "xus-east")); r != nil {
		t.Fatalf("regex matched a substring: %+v", r)
	}

	// responseHeaders alone match any status; header add appends, set
	// replaces what came before it (the content type included).
	r := respond(200, newResp("x-custom-header", "custom-value"))
	if r == nil || r.Status != 200 || r.Body != "matched response header" {
		t.Fatalf("header match: %+v", r)
	}
	_, hs, _ := r.Wire()
	want := [][2]string{{"x-add-header", "added-200"}, {"cache-control", "no-cache"}, {"content-type", "text/x-set"}}
	if len(hs) != len(want) {
		t.Fatalf("headers %q, want %q", hs, want)
	}
	for i := range want {
		if hs[i] != want[i] {
			t.Fatalf("headers %q, want %q", hs, want)
		}
	}

	// source: an upstream 500 is the Backend entry's; a response the host
	// reports as a local reply (the router's) is the Local entry's.
	if r := respond(500, newResp()); r == nil || r.Body != "backend 500" {
		t.Fatalf("upstream 500: %+v", r)
	}
	if r := respond(500, &detailsResp{fakeResp: newResp(), details: "via_upstream"}); r == nil || r.Body != "backend 500" {
		t.Fatalf("via_upstream 500: %+v", r)
	}
	if r := respond(500, &detailsResp{fakeResp: newResp(), details: "direct_response"}); r == nil || r.Body != "local 500" {
		t.Fatalf("router's local 500: %+v", r)
	}
	// The engine's own reply is local.
	abort := mustConfig(t, strings.Replace(cfg, `"percentage":0`, `"percentage":100`, 1), newEnv().opts())
	if r := wantReply(t, "abort", abort.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 500); r.Body != "local 500" {
		t.Fatalf("abort: %+v", r)
	}
}

// A local reply is matched on its own headers too (the 429's x-ratelimit-*
// are on it when custom_response sees it).
func TestOverrideLocalReplyHeaders(t *testing.T) {
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}},"responseOverride":[
	  {"match":{"responseHeaders":[{"name":"x-ratelimit-remaining","value":{"value":"0"}}]},"response":{"body":{"inline":"out of tokens"}}}]}`, newEnv().opts())
	c.NewStream().OnRequestHeaders(newReq("GET", "/"), true)
	if r := wantReply(t, "429", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429); r.Body != "out of tokens" {
		t.Fatalf("429: %+v", r)
	}
}
