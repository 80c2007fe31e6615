package filter

import "testing"

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

func TestOverrideDoesNotTouchLocalReplies(t *testing.T) {
	c := mustConfig(t, `{"faultInjection":{"abort":{"httpStatus":503}},"responseOverride":[{"match":{"statusCodes":[{"value":503}]},"response":{"statusCode":200}}]}`, newEnv().opts())
	s := c.NewStream()
	wantReply(t, "abort", s.OnRequestHeaders(newReq("GET", "/"), true), 503)
	wantKind(t, "abort's response", s.OnResponseHeaders(503, newResp()), Continue)
}
