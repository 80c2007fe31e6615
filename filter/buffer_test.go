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
