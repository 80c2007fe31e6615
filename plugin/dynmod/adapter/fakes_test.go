package adapter

import (
	"sync"

	"github.com/envoy-btp/envoy-btp/filter"
)

// fakeConfigHandle records defined counters.
type fakeConfigHandle struct {
	mu       sync.Mutex
	counters []string
}

func (h *fakeConfigHandle) DefineCounter(name string) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counters = append(h.counters, name)
	return uint64(len(h.counters)), true // ids start at 1, like Envoy's
}

// reply is a local reply the fake stream saw.
type reply struct {
	status  int
	headers [][2]string
	body    string
	detail  string
}

// fakeHeaders is a header map: the first value of each name, and how many
// times the engine set one.
type fakeHeaders struct {
	m    map[string]string
	sets int
}

func newFakeHeaders(m map[string][]string) *fakeHeaders {
	h := &fakeHeaders{m: map[string]string{}}
	for k, v := range m {
		h.m[k] = v[0]
	}
	return h
}

func (h *fakeHeaders) Get(name string) (string, bool) { v, ok := h.m[name]; return v, ok }

func (h *fakeHeaders) Set(name, value string) { h.m[name] = value; h.sets++ }

// fakeHandle stands in for Envoy's side of one stream.
type fakeHandle struct {
	route     *filter.Config
	reqHdr    *fakeHeaders
	respHdr   *fakeHeaders
	source    string
	replies   []reply
	continued int
	expected  int // ExpectSchedule calls
	counts    map[uint64]uint64
	tasks     chan func()
	panicOn   string // method name that panics
}

func newFakeHandle(route *filter.Config, headers map[string][]string) *fakeHandle {
	return &fakeHandle{
		route:   route,
		reqHdr:  newFakeHeaders(headers),
		respHdr: newFakeHeaders(map[string][]string{":status": {"200"}}),
		source:  "10.1.2.3:5555",
		counts:  map[uint64]uint64{},
		tasks:   make(chan func(), 4),
	}
}

func (h *fakeHandle) RouteConfig() *filter.Config {
	if h.panicOn == "RouteConfig" {
		panic("fake: RouteConfig")
	}
	return h.route
}

func (h *fakeHandle) RequestHeaders() Headers { return h.reqHdr }

func (h *fakeHandle) ResponseHeaders() Headers { return h.respHdr }

func (h *fakeHandle) SourceAddress() string { return h.source }

func (h *fakeHandle) Protocol() string { return "HTTP/2" }

func (h *fakeHandle) ResponseCodeDetails() string {
	return "upstream_reset_before_response_started{connection_termination}"
}

func (h *fakeHandle) SendLocalResponse(status int, headers [][2]string, body, detail string) {
	h.replies = append(h.replies, reply{status, headers, body, detail})
}

func (h *fakeHandle) ContinueRequest() { h.continued++ }

func (h *fakeHandle) ExpectSchedule() { h.expected++ }

// Schedule hands the task to the test, which runs it as Envoy's worker
// thread would.
func (h *fakeHandle) Schedule(task func()) { h.tasks <- task }

func (h *fakeHandle) IncrementCounters(ids, n []uint64) {
	for i, id := range ids {
		h.counts[id] += n[i]
	}
}
