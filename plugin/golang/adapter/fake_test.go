package adapter

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// The fakes below stand in for what Envoy's golang filter hands a plugin: the
// header, trailer and buffer maps and the per-request callback handler. They
// record what the adapter did (local replies, Continue calls, logs) so tests
// can assert on it exactly.

// fakeHeaders implements api.RequestHeaderMap, api.ResponseHeaderMap and the
// trailer maps. Keys are stored lower-case, the way Envoy hands them over.
type fakeHeaders struct {
	mu sync.Mutex
	m  map[string][]string
	// fetched counts reads per header name, to prove the adapter fetches
	// only what the rules need.
	fetched map[string]int
	// copies counts how often the SDK would copy the whole map into Go:
	// its Get, Values, Range, Set, Add and Del fill a Go-side copy the first
	// time one of them is called on a map (GetRaw never does).
	copies int
	cached bool
}

// fill models the SDK's initHeaders; h.mu is held.
func (h *fakeHeaders) fill() {
	if !h.cached {
		h.cached = true
		h.copies++
	}
}

func newHeaders(kv ...string) *fakeHeaders {
	h := &fakeHeaders{m: map[string][]string{}, fetched: map[string]int{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		h.m[k] = append(h.m[k], kv[i+1])
	}
	return h
}

// GetRaw is case-sensitive in the SDK (Envoy's keys are lower case).
func (h *fakeHeaders) GetRaw(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fetched[name]++
	if v := h.m[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h *fakeHeaders) Get(key string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fetched[strings.ToLower(key)]++
	h.fill()
	v, ok := h.m[strings.ToLower(key)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (h *fakeHeaders) Values(key string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fetched[strings.ToLower(key)]++
	h.fill()
	return append([]string(nil), h.m[strings.ToLower(key)]...)
}

// Set copies the value, as Envoy does when the SDK hands it over.
func (h *fakeHeaders) Set(key, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fill()
	h.m[strings.ToLower(key)] = []string{strings.Clone(value)}
}

func (h *fakeHeaders) Add(key, value string) {
	h.mu.Lock()
	h.fill()
	defer h.mu.Unlock()
	k := strings.ToLower(key)
	h.m[k] = append(h.m[k], value)
}

func (h *fakeHeaders) Del(key string) {
	h.mu.Lock()
	h.fill()
	defer h.mu.Unlock()
	delete(h.m, strings.ToLower(key))
}

func (h *fakeHeaders) Range(f func(key, value string) bool) {
	h.mu.Lock()
	h.fill()
	all := make(map[string][]string, len(h.m))
	for k, v := range h.m {
		all[k] = append([]string(nil), v...)
	}
	h.mu.Unlock()
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range all[k] {
			if !f(k, v) {
				return
			}
		}
	}
}

func (h *fakeHeaders) RangeWithCopy(f func(key, value string) bool) { h.Range(f) }

func (h *fakeHeaders) GetAllHeaders() map[string][]string {
	h.mu.Lock()
	h.fill()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.m))
	for k, v := range h.m {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (h *fakeHeaders) Scheme() string { return h.GetRaw(":scheme") }
func (h *fakeHeaders) Method() string { return h.GetRaw(":method") }
func (h *fakeHeaders) Host() string   { return h.GetRaw(":authority") }
func (h *fakeHeaders) Path() string   { return h.GetRaw(":path") }

func (h *fakeHeaders) SetMethod(m string) { h.Set(":method", m) }
func (h *fakeHeaders) SetHost(v string)   { h.Set(":authority", v) }
func (h *fakeHeaders) SetPath(p string)   { h.Set(":path", p) }

// value reads a header for the test itself, without counting it as a fetch.
func (h *fakeHeaders) value(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v := h.m[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h *fakeHeaders) fetches() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.fetched))
	for k, v := range h.fetched {
		out[k] = v
	}
	return out
}

// Status goes through Get in the SDK, so it fills the Go-side copy too.
func (h *fakeHeaders) Status() (int, bool) {
	h.mu.Lock()
	h.fill()
	h.mu.Unlock()
	v := h.value(":status")
	if v == "" {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// fakeBuffer implements api.BufferInstance over a byte slice.
type fakeBuffer struct{ b []byte }

func newBuffer(s string) *fakeBuffer { return &fakeBuffer{b: []byte(s)} }

func (f *fakeBuffer) Write(p []byte) (int, error)       { f.b = append(f.b, p...); return len(p), nil }
func (f *fakeBuffer) WriteString(s string) (int, error) { f.b = append(f.b, s...); return len(s), nil }
func (f *fakeBuffer) WriteByte(p byte) error            { f.b = append(f.b, p); return nil }
func (f *fakeBuffer) WriteUint16(p uint16) error        { return errors.New("unused") }
func (f *fakeBuffer) WriteUint32(p uint32) error        { return errors.New("unused") }
func (f *fakeBuffer) WriteUint64(p uint64) error        { return errors.New("unused") }
func (f *fakeBuffer) Bytes() []byte                     { return f.b }
func (f *fakeBuffer) Drain(offset int)                  { f.b = f.b[min(offset, len(f.b)):] }
func (f *fakeBuffer) Len() int                          { return len(f.b) }
func (f *fakeBuffer) Reset()                            { f.b = f.b[:0] }
func (f *fakeBuffer) String() string                    { return string(f.b) }
func (f *fakeBuffer) Append(data []byte) error          { f.b = append(f.b, data...); return nil }
func (f *fakeBuffer) Set(p []byte) error                { f.b = append(f.b[:0], p...); return nil }
func (f *fakeBuffer) SetString(s string) error          { f.b = append(f.b[:0], s...); return nil }
func (f *fakeBuffer) Prepend(p []byte) error {
	f.b = append(append([]byte{}, p...), f.b...)
	return nil
}
func (f *fakeBuffer) PrependString(s string) error { return f.Prepend([]byte(s)) }
func (f *fakeBuffer) AppendString(s string) error  { f.b = append(f.b, s...); return nil }

// localReply is one SendLocalReply call.
type localReply struct {
	status     int
	body       string
	headers    map[string][]string
	grpcStatus int64
	details    string
}

// fakeProcess implements api.DecoderFilterCallbacks / EncoderFilterCallbacks
// for one direction: it records local replies and Continue calls, which may
// come from a goroutine (fault delays), so it is safe for concurrent use.
type fakeProcess struct {
	mu        sync.Mutex
	replies   []localReply
	continued []api.StatusType
	// done is signalled on every Continue or SendLocalReply, so a test can
	// wait for the asynchronous half of a delayed request.
	done chan struct{}
}

func newProcess() *fakeProcess { return &fakeProcess{done: make(chan struct{}, 16)} }

func (p *fakeProcess) Continue(s api.StatusType) {
	p.mu.Lock()
	p.continued = append(p.continued, s)
	p.mu.Unlock()
	p.done <- struct{}{}
}

func (p *fakeProcess) SendLocalReply(code int, body string, headers map[string][]string, grpcStatus int64, details string) {
	p.mu.Lock()
	p.replies = append(p.replies, localReply{code, body, headers, grpcStatus, details})
	p.mu.Unlock()
	p.done <- struct{}{}
}

func (p *fakeProcess) RecoverPanic()                              { panic("the adapter recovers its own panics") }
func (p *fakeProcess) AddData(data []byte, isStreaming bool)      {}
func (p *fakeProcess) InjectData(data []byte)                     {}
func (p *fakeProcess) SetUpstreamOverrideHost(string, bool) error { return nil }
func (p *fakeProcess) snapshot() ([]localReply, []api.StatusType) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]localReply(nil), p.replies...), append([]api.StatusType(nil), p.continued...)
}

// fakeStreamInfo implements the parts of api.StreamInfo the adapter reads;
// the rest panic so a test fails loudly if the adapter starts fetching more.
type fakeStreamInfo struct {
	api.StreamInfo
	remote   string
	attempts uint32
	reads    atomic.Int32
}

func (s *fakeStreamInfo) DownstreamRemoteAddress() string { s.reads.Add(1); return s.remote }
func (s *fakeStreamInfo) AttemptCount() uint32            { s.reads.Add(1); return s.attempts }
func (s *fakeStreamInfo) GetRouteName() string            { return "route" }
func (s *fakeStreamInfo) Protocol() (string, bool)        { return "HTTP/2", true }
func (s *fakeStreamInfo) ResponseCodeDetails() (string, bool) {
	return "upstream_reset_before_response_started{connection_termination}", true
}

type logLine struct {
	level api.LogType
	msg   string
}

// fakeHandler implements api.FilterCallbackHandler.
type fakeHandler struct {
	info *fakeStreamInfo
	dec  *fakeProcess
	enc  *fakeProcess
	mu   sync.Mutex
	logs []logLine
}

func newHandler(remote string) *fakeHandler {
	return &fakeHandler{info: &fakeStreamInfo{remote: remote}, dec: newProcess(), enc: newProcess()}
}

func (h *fakeHandler) StreamInfo() api.StreamInfo { return h.info }
func (h *fakeHandler) ClearRouteCache()           {}
func (h *fakeHandler) RefreshRouteCache()         {}
func (h *fakeHandler) Log(level api.LogType, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, logLine{level, msg})
}
func (h *fakeHandler) LogLevel() api.LogType                              { return api.Info }
func (h *fakeHandler) GetProperty(key string) (string, error)             { return "", api.ErrValueNotFound }
func (h *fakeHandler) SecretManager() api.SecretManager                   { return nil }
func (h *fakeHandler) DecoderFilterCallbacks() api.DecoderFilterCallbacks { return h.dec }
func (h *fakeHandler) EncoderFilterCallbacks() api.EncoderFilterCallbacks { return h.enc }
func (h *fakeHandler) logged() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logLine(nil), h.logs...)
}

// fakeCounter implements api.CounterMetric.
type fakeCounter struct{ n, calls atomic.Int64 }

func (c *fakeCounter) Increment(d int64) { c.n.Add(d); c.calls.Add(1) }
func (c *fakeCounter) Get() uint64       { return uint64(c.n.Load()) }
func (c *fakeCounter) Record(v uint64)   { c.n.Store(int64(v)) }

// fakeConfigCallbacks implements api.ConfigCallbackHandler and keeps the
// counters by name, the way Envoy's stats store would.
type fakeConfigCallbacks struct {
	mu       sync.Mutex
	counters map[string]*fakeCounter
}

func newConfigCallbacks() *fakeConfigCallbacks {
	return &fakeConfigCallbacks{counters: map[string]*fakeCounter{}}
}

func (c *fakeConfigCallbacks) DefineCounterMetric(name string) api.CounterMetric {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr, ok := c.counters[name]; ok {
		return ctr
	}
	ctr := &fakeCounter{}
	c.counters[name] = ctr
	return ctr
}

func (c *fakeConfigCallbacks) DefineGaugeMetric(name string) api.GaugeMetric {
	panic("btp defines no gauges")
}

func (c *fakeConfigCallbacks) count(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr, ok := c.counters[name]; ok {
		return ctr.Get()
	}
	return 0
}
