package filter

import "testing"

func TestRequestBuffer(t *testing.T) {
	const cfg = `{"requestBuffer":{"limit":"1Ki"}}`
	type step struct {
		n   int
		end bool
		// want is the action kind after the chunk; 413 means a refusal.
		want Kind
	}
	cases := []struct {
		name      string
		headers   []string
		endStream bool
		head      Kind // action at headers
		grpc      bool
		steps     []step
		tooLarge  int64
	}{
		{name: "no body", endStream: true, head: Continue},
		{name: "content-length over the limit is refused at headers", headers: []string{"content-length", "1025"}, head: SendReply, tooLarge: 1},
		{name: "content-length at the limit is buffered", headers: []string{"content-length", "1024"}, head: StopAndBuffer,
			steps: []step{{512, false, StopAndBuffer}, {512, true, Continue}}},
		{name: "streamed body under the limit", head: StopAndBuffer,
			steps: []step{{100, false, StopAndBuffer}, {900, false, StopAndBuffer}, {24, true, Continue}}},
		{name: "streamed body refused as it passes the limit", head: StopAndBuffer,
			steps: []step{{1000, false, StopAndBuffer}, {25, false, SendReply}}, tooLarge: 1},
		{name: "one big last chunk", head: StopAndBuffer,
			steps: []step{{2048, true, SendReply}}, tooLarge: 1},
		{name: "gRPC refusal is gRPC-shaped", headers: []string{"content-type", "application/grpc"}, head: StopAndBuffer, grpc: true,
			steps: []step{{4096, false, SendReply}}, tooLarge: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			c := mustConfig(t, cfg, e.opts())
			s := c.NewStream()
			a := s.OnRequestHeaders(newReq("POST", "/", tc.headers...), tc.endStream)
			wantKind(t, "headers", a, tc.head)
			if a.Kind == SendReply && a.Reply.Status != 413 {
				t.Fatalf("headers: status %d, want 413", a.Reply.Status)
			}
			for i, st := range tc.steps {
				a = s.OnRequestBody(st.n, st.end)
				wantKind(t, "chunk", a, st.want)
				if a.Kind == SendReply {
					if a.Reply.Status != 413 {
						t.Fatalf("chunk %d: status %d, want 413", i, a.Reply.Status)
					}
					if tc.grpc != (a.Reply.GRPCStatus == 8) {
						t.Fatalf("chunk %d: grpc status %d, grpc request %v", i, a.Reply.GRPCStatus, tc.grpc)
					}
					// Nothing more is taken after the refusal.
					wantKind(t, "after refusal", s.OnRequestBody(10, true), Continue)
				}
			}
			if got := e.stats.get(BufferTooLarge); got != tc.tooLarge {
				t.Fatalf("btp.buffer.too_large = %d, want %d", got, tc.tooLarge)
			}
			s.OnStreamComplete(1)
		})
	}
}

func TestRequestBufferTrailersEndBody(t *testing.T) {
	c := mustConfig(t, `{"requestBuffer":{"limit":"100"}}`, newEnv().opts())
	s := c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/"), false), StopAndBuffer)
	wantKind(t, "data", s.OnRequestBody(60, false), StopAndBuffer)
	wantKind(t, "trailers", s.OnRequestTrailers(), Continue)
}

func TestNoBufferConfiguredPassesBody(t *testing.T) {
	c := mustConfig(t, `{}`, newEnv().opts())
	s := c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/", "content-length", "999999999"), false), Continue)
	wantKind(t, "data", s.OnRequestBody(1<<20, false), Continue)
}

// Every Content-Length that cannot be within the limit is refused at
// headers time: values of 2^63 and more (which Envoy passes to the filter)
// with 413, values that are no decimal number (HTTP/2 passes any) with 400;
// neither waits for a body.
func TestContentLengthDecidedAtHeaders(t *testing.T) {
	cases := []struct {
		length             string
		status             int // 0: buffered
		tooLarge, badValue int64
	}{
		{"1024", 0, 0, 0},
		{"0001024", 0, 0, 0},
		{"1025", 413, 1, 0},
		{"9223372036854775807", 413, 1, 0},
		{"9223372036854775808", 413, 1, 0},  // 2^63
		{"18446744073709551615", 413, 1, 0}, // 2^64-1
		{"18446744073709551616", 413, 1, 0}, // 2^64
		{"99999999999999999999999999", 413, 1, 0},
		{"", 400, 0, 1},
		{"abc", 400, 0, 1},
		{"-1", 400, 0, 1},
		{"+5", 400, 0, 1},
		{"0x10", 400, 0, 1},
		{"5, 5", 400, 0, 1},
		{" 5", 400, 0, 1},
	}
	for _, tc := range cases {
		for _, grpc := range []bool{false, true} {
			e := newEnv()
			c := mustConfig(t, `{"requestBuffer":{"limit":"1Ki"}}`, e.opts())
			s := c.NewStream()
			h := []string{"content-length", tc.length}
			if grpc {
				h = append(h, "content-type", "application/grpc")
			}
			a := s.OnRequestHeaders(newReq("POST", "/", h...), false)
			if tc.status == 0 {
				wantKind(t, tc.length, a, StopAndBuffer)
			} else {
				wantKind(t, tc.length, a, SendReply)
				wantGRPC := map[int]int{413: 8, 400: 13}[tc.status]
				if !grpc {
					wantGRPC = -1
				}
				if a.Reply.Status != tc.status || a.Reply.GRPCStatus != wantGRPC {
					t.Errorf("content-length %q grpc=%v: status %d grpc-status %d, want %d %d", tc.length, grpc, a.Reply.Status, a.Reply.GRPCStatus, tc.status, wantGRPC)
				}
			}
			if got, bad := e.stats.get(BufferTooLarge), e.stats.get(BufferInvalidLength); got != tc.tooLarge || bad != tc.badValue {
				t.Errorf("content-length %q: too_large %d invalid_length %d, want %d %d", tc.length, got, bad, tc.tooLarge, tc.badValue)
			}
			s.OnStreamComplete(1)
		}
	}
}
