package filter

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeReq is a host's request view: it records what the engine fetched
// and what it set, copying values as real hosts do.
type fakeReq struct {
	headers map[string]string
	method  string
	path    string
	addr    string
	set     map[string]string
	fetched map[string]int
}

func newReq(method, path string, kv ...string) *fakeReq {
	r := &fakeReq{headers: map[string]string{}, method: method, path: path, addr: "10.0.0.1:5555",
		set: map[string]string{}, fetched: map[string]int{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.headers[kv[i]] = kv[i+1]
	}
	return r
}

func (r *fakeReq) Header(name string) (string, bool) {
	r.fetched[name]++
	v, ok := r.headers[name]
	return v, ok
}
func (r *fakeReq) Method() string        { r.fetched[":method"]++; return r.method }
func (r *fakeReq) Path() string          { r.fetched[":path"]++; return r.path }
func (r *fakeReq) SourceAddress() string { r.fetched["source"]++; return r.addr }
func (r *fakeReq) SetHeader(name, value string) {
	r.set[name] = strings.Clone(value)
}

type fakeResp struct {
	headers map[string]string
}

func newResp(kv ...string) *fakeResp {
	r := &fakeResp{headers: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.headers[kv[i]] = kv[i+1]
	}
	return r
}

func (r *fakeResp) Header(name string) (string, bool) { v, ok := r.headers[name]; return v, ok }
func (r *fakeResp) SetHeader(name, value string)      { r.headers[name] = strings.Clone(value) }

type fakeStats struct {
	n [NumCounters]atomic.Int64
}

func (s *fakeStats) Inc(c Counter)       { s.n[c].Add(1) }
func (s *fakeStats) get(c Counter) int64 { return s.n[c].Load() }

// fakeClock is a settable clock in nanoseconds.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() int64       { return c.t.Load() }
func (c *fakeClock) advance(ns int64) { c.t.Add(ns) }

// seqRand returns the given draws in order, then repeats the last.
type seqRand struct {
	mu    sync.Mutex
	draws []uint32
}

func (r *seqRand) next() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.draws[0]
	if len(r.draws) > 1 {
		r.draws = r.draws[1:]
	}
	return v
}

type env struct {
	stats *fakeStats
	clock *fakeClock
	logs  []string
	mu    sync.Mutex
}

func (e *env) opts() Options {
	return Options{Stats: e.stats, Now: e.clock.now, Log: func(m string) { e.mu.Lock(); e.logs = append(e.logs, m); e.mu.Unlock() }}
}

func newEnv() *env { return &env{stats: &fakeStats{}, clock: &fakeClock{}} }

// mustConfig compiles JSON config or fails the test.
func mustConfig(t testing.TB, js string, opts Options) *Config {
	t.Helper()
	c, err := ParseJSON([]byte(js), opts)
	if err != nil {
		t.Fatalf("config %s: %v", js, err)
	}
	return c
}

func wantKind(t *testing.T, what string, a Action, k Kind) {
	t.Helper()
	if a.Kind != k {
		t.Fatalf("%s: action %v, want %v (reply %+v)", what, a.Kind, k, a.Reply)
	}
}

func wantReply(t *testing.T, what string, a Action, status int) *Reply {
	t.Helper()
	wantKind(t, what, a, SendReply)
	if a.Reply.Status != status {
		t.Fatalf("%s: reply status %d, want %d", what, a.Reply.Status, status)
	}
	return a.Reply
}

func strconvFormat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
