package adapter

import (
	"sync"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared/fake"
)

// fakeConfigHandle records defined counters and log lines.
type fakeConfigHandle struct {
	mu       sync.Mutex
	counters []string
	logs     []string
}

func (h *fakeConfigHandle) Log(_ shared.LogLevel, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, format)
}

func (h *fakeConfigHandle) DefineHistogram(string, ...string) (shared.MetricID, shared.MetricsResult) {
	return 0, shared.MetricsFrozen
}

func (h *fakeConfigHandle) DefineGauge(string, ...string) (shared.MetricID, shared.MetricsResult) {
	return 0, shared.MetricsFrozen
}

func (h *fakeConfigHandle) DefineCounter(name string, _ ...string) (shared.MetricID, shared.MetricsResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counters = append(h.counters, name)
	return shared.MetricID(len(h.counters)), shared.MetricsSuccess // ids start at 1, like Envoy's
}

// reply is a local reply the fake stream saw.
type reply struct {
	status  uint32
	headers [][2]string
	body    string
	detail  string
}

// fakeHandle is the part of shared.HttpFilterHandle the adapter uses; any
// other method panics through the nil embedded interface.
type fakeHandle struct {
	shared.HttpFilterHandle

	route     any
	reqHdr    *fake.FakeHeaderMap
	source    string
	attempts  float64
	replies   []reply
	continued int
	counts    map[shared.MetricID]uint64
	sched     *fakeScheduler
	panicOn   string // method name that panics
}

func newFakeHandle(route any, headers map[string][]string) *fakeHandle {
	return &fakeHandle{
		route:  route,
		reqHdr: fake.NewFakeHeaderMap(headers),
		source: "10.1.2.3:5555",
		counts: map[shared.MetricID]uint64{},
		sched:  &fakeScheduler{tasks: make(chan func(), 4)},
	}
}

func (h *fakeHandle) GetMostSpecificConfig() any {
	if h.panicOn == "GetMostSpecificConfig" {
		panic("fake: GetMostSpecificConfig")
	}
	return h.route
}

func (h *fakeHandle) SendLocalResponse(status uint32, headers [][2]string, body []byte, detail string) {
	h.replies = append(h.replies, reply{status, headers, string(body), detail})
}

func (h *fakeHandle) GetScheduler() shared.Scheduler { return h.sched }

func (h *fakeHandle) ContinueRequest() { h.continued++ }

func (h *fakeHandle) IncrementCounterValue(id shared.MetricID, v uint64, _ ...string) shared.MetricsResult {
	h.counts[id] += v
	return shared.MetricsSuccess
}

func (h *fakeHandle) GetAttributeString(id shared.AttributeID) (string, bool) {
	if id == shared.AttributeIDSourceAddress {
		return h.source, true
	}
	return "", false
}

func (h *fakeHandle) GetAttributeNumber(id shared.AttributeID) (float64, bool) {
	if id == shared.AttributeIDUpstreamRequestAttemptCount {
		return h.attempts, true
	}
	return 0, false
}

func (h *fakeHandle) Log(shared.LogLevel, string, ...any) {}

// fakeScheduler hands scheduled tasks to the test, which runs them as
// Envoy's worker thread would.
type fakeScheduler struct {
	tasks chan func()
}

func (s *fakeScheduler) Schedule(f func()) { s.tasks <- f }
