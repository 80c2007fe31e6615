package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// requestBuffer: a body over the limit gets 413 and never reaches the
// backend, whether announced by Content-Length or streamed chunked; a body
// under the limit arrives whole.
func TestRequestBuffer(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[0]
	over := strings.Repeat("x", 2048) // limit is 1Ki
	under := strings.Repeat("y", 1000)

	for _, chunked := range []bool{false, true} {
		be.Reset()
		code, _, _ := post(t, p.URL("/buffer"), over, chunked)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: 2 KiB body: status %d, want 413", chunked, code)
		}
		if be.Hits() != 0 {
			t.Errorf("chunked=%v: backend saw %d requests, want 0", chunked, be.Hits())
		}

		code, h, _ := post(t, p.URL("/buffer"), under, chunked)
		if code != http.StatusOK {
			t.Fatalf("chunked=%v: 1000 B body: status %d, want 200", chunked, code)
		}
		reqs := be.Requests()
		if len(reqs) != 1 || string(reqs[0].Body) != under {
			t.Errorf("chunked=%v: backend got %d requests, body of %s bytes; want the 1000 B body whole", chunked, len(reqs), h.Get("x-body-bytes"))
		}
	}
	// A limit above Envoy's default 1 MiB connection buffer works when the
	// listener's per_connection_buffer_limit_bytes covers it (the bootstrap
	// sets 5 MiB; Envoy itself answers 413 past that buffer).
	be.Reset()
	big := strings.Repeat("m", 2<<20)
	if code, _, _ := post(t, p.URL("/bigbuffer"), big, true); code != http.StatusOK {
		t.Errorf("2 MiB body under a 4Mi limit: status %d, want 200", code)
	}
	if r := be.Requests(); len(r) != 1 || len(r[0].Body) != len(big) {
		t.Errorf("backend did not get the 2 MiB body whole")
	}
	if got := p.Envoy.Stat(t, "btp.buffer.too_large"); got != 2 {
		t.Errorf("btp.buffer.too_large = %d, want 2", got)
	}
}
