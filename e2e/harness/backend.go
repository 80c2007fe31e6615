package harness

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BackendHeader is the response header every test backend sets to its name,
// so a test can tell which backend answered a request that went through Envoy.
const BackendHeader = "x-backend"

// Request is what a backend saw of one request (copied, safe to keep).
type Request struct {
	Method string
	Host   string // the Host (:authority) the backend was sent
	Path   string
	Header http.Header
	Body   []byte
}

// Backend is a real HTTP server on 127.0.0.1 that counts hits and can be
// told to fail, answer slowly, stall, or go down. Every response carries
// BackendHeader: Name. It answers GET /healthz with 200 (or 503 once
// SetHealthy(false)) without counting it as a hit.
// A request with x-once-status: NNN is answered NNN the first time its
// x-once-key value is seen, 200 afterwards.
type Backend struct {
	Name string
	Port int

	srv  *http.Server
	ln   net.Listener
	hits atomic.Int64

	mu       sync.Mutex
	status   int           // 0 = 200
	delay    time.Duration // before answering
	stall    chan struct{} // non-nil: block until closed
	unhealth bool
	reqs     []Request
	inflight atomic.Int64
	onceSeen map[string]bool // x-once-key values answered already
}

// maxRecorded bounds the requests a backend keeps for Requests().
const maxRecorded = 256

// StartBackend starts a backend on a free loopback port; it is closed when
// the test ends.
func StartBackend(t testing.TB, name string) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("backend %s: listen: %v", name, err)
	}
	b := &Backend{Name: name, Port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	t.Cleanup(b.Close)
	return b
}

// StartBackends starts n backends named prefix-0 .. prefix-(n-1).
func StartBackends(t testing.TB, prefix string, n int) []*Backend {
	t.Helper()
	bs := make([]*Backend, n)
	for i := range bs {
		bs[i] = StartBackend(t, prefix+"-"+strconv.Itoa(i))
	}
	return bs
}

// Addr is host:port of the backend.
func (b *Backend) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.Port) }

// Hits is the number of non-health-check requests the backend received.
func (b *Backend) Hits() int64 { return b.hits.Load() }

// InFlight is the number of requests currently being answered.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Reset zeroes the hit count and forgets recorded requests.
func (b *Backend) Reset() {
	b.hits.Store(0)
	b.mu.Lock()
	b.reqs = nil
	b.mu.Unlock()
}

// SetStatus makes every later answer use code (0 or 200 for success).
func (b *Backend) SetStatus(code int) {
	b.mu.Lock()
	b.status = code
	b.mu.Unlock()
}

// SetDelay makes every later answer wait d first.
func (b *Backend) SetDelay(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// Stall makes later requests block until Release (or Close).
func (b *Backend) Stall() {
	b.mu.Lock()
	if b.stall == nil {
		b.stall = make(chan struct{})
	}
	b.mu.Unlock()
}

// Release lets stalled requests finish and stops stalling.
func (b *Backend) Release() {
	b.mu.Lock()
	if b.stall != nil {
		close(b.stall)
		b.stall = nil
	}
	b.mu.Unlock()
}

// SetHealthy controls what GET /healthz answers (200 or 503).
func (b *Backend) SetHealthy(ok bool) {
	b.mu.Lock()
	b.unhealth = !ok
	b.mu.Unlock()
}

// Requests returns copies of the last requests received (at most 256).
func (b *Backend) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.reqs...)
}

// Close stops the backend (its port refuses connections afterwards).
func (b *Backend) Close() {
	b.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
}

// firstSeen records key and reports whether it is new.
func (b *Backend) firstSeen(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onceSeen[key] {
		return false
	}
	if b.onceSeen == nil {
		b.onceSeen = map[string]bool{}
	}
	b.onceSeen[key] = true
	return true
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(BackendHeader, b.Name)
	b.mu.Lock()
	status, delay, stall, unhealthy := b.status, b.delay, b.stall, b.unhealth
	b.mu.Unlock()
	if r.URL.Path == "/healthz" {
		if unhealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	body, _ := io.ReadAll(r.Body)
	b.hits.Add(1)
	b.mu.Lock()
	if len(b.reqs) == maxRecorded {
		b.reqs = b.reqs[1:]
	}
	b.reqs = append(b.reqs, Request{Method: r.Method, Host: r.Host, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
	b.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	// x-once-status: NNN answers NNN to the first request carrying a given
	// x-once-key and 200 to the later ones: a retry repeats the client's
	// headers, so whether the client sees NNN tells whether Envoy retried.
	if code, err := strconv.Atoi(r.Header.Get("x-once-status")); err == nil && code >= 200 && code <= 599 {
		if key := r.Header.Get("x-once-key"); key != "" && b.firstSeen(key) {
			status = code
		}
	}
	// /status/NNN answers NNN, as Envoy Gateway's e2e echo backend does.
	if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/")); err == nil && strings.HasPrefix(r.URL.Path, "/status/") && code >= 200 && code <= 599 {
		status = code
	}
	w.Header().Set("content-type", "text/plain")
	w.Header().Set("x-body-bytes", strconv.Itoa(len(body)))
	// A request header X-Echo-<Name> comes back as response header <Name>,
	// so a test can make the backend answer the headers it needs.
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-echo-"); ok && name != "" {
			w.Header()[http.CanonicalHeaderKey(name)] = v
		}
	}
	w.WriteHeader(status)
	io.WriteString(w, b.Name+"\n")
}
