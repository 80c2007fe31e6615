package xds

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// nodes follows every Envoy's ADS streams from the server callbacks: what
// was sent to it, what it acked and what it rejected. A response's nonce
// tells which version an ACK or NACK answers (a NACK's version_info is the
// last accepted one, and delta requests carry none).
type nodes struct {
	log     *logger
	current func() uint64

	mu    sync.Mutex
	sotw  map[int64]*stream // the sotw and delta servers number streams apart
	delta map[int64]*stream
	byID  map[string]*node
	// lastAcked is the last "acked by" line: printed again only when the
	// version or the set of Envoys changes.
	lastAcked string
	// acks is closed (and replaced) on every ACK and closed stream, for
	// waitAcked.
	acks chan struct{}
}

type stream struct {
	node   string
	nonces map[string]sent // response nonce -> what it carried
}

type sent struct{ typ, version string }

type node struct {
	streams int // open streams; 0 once the Envoy went away
	sent    map[string]string
	acked   map[string]string
	nacked  map[string]string
	err     string // Envoy's detail of the last NACK, until that type is acked again
}

func newNodes(l *logger, current func() uint64) *nodes {
	return &nodes{log: l, current: current, sotw: map[int64]*stream{}, delta: map[int64]*stream{}, byID: map[string]*node{}, acks: make(chan struct{})}
}

// wake tells waitAcked to look again (n.mu held).
func (n *nodes) wake() {
	close(n.acks)
	n.acks = make(chan struct{})
}

// active counts the connected Envoys that have acked something: those a
// push must not break.
func (n *nodes) active() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, nd := range n.byID {
		if nd.streams > 0 && len(nd.acked) > 0 {
			k++
		}
	}
	return k
}

// waitAcked waits until every active Envoy acked version (or a later one)
// for each of types, at most timeout; false when it timed out.
func (n *nodes) waitAcked(version uint64, types []string, timeout time.Duration) bool {
	v := strconv.FormatUint(version, 10)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		ok := true
		for _, nd := range n.byID {
			if nd.streams == 0 || len(nd.acked) == 0 {
				continue
			}
			for _, t := range types {
				if olderThan(nd.acked[t], v) {
					ok = false
				}
			}
		}
		ch := n.acks
		n.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (n *nodes) open(streams map[int64]*stream, id int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	streams[id] = &stream{nonces: map[string]sent{}}
}

func (n *nodes) closed(streams map[int64]*stream, id int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := streams[id]
	delete(streams, id)
	if st == nil || st.node == "" {
		return
	}
	if nd := n.byID[st.node]; nd != nil {
		nd.streams--
		if nd.streams == 0 {
			n.log.printf("btp serve: Envoy %s disconnected", st.node)
		}
	}
	n.wake()
	n.checkAcked()
}

// request handles one discovery request of a stream: the node's first,
// or an ACK or NACK of an earlier response.
func (n *nodes) request(streams map[int64]*stream, id int64, nodeID, nonce string, detail string, nack bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := streams[id]
	if st == nil {
		return
	}
	if st.node == "" && nodeID != "" {
		st.node = nodeID
		nd := n.node(nodeID)
		nd.streams++
		if nd.streams == 1 {
			n.log.printf("btp serve: Envoy %s connected", nodeID)
		}
	}
	if nonce == "" || st.node == "" {
		return
	}
	r, ok := st.nonces[nonce]
	if !ok {
		return
	}
	delete(st.nonces, nonce)
	nd := n.node(st.node)
	if nack {
		nd.nacked[r.typ] = r.version
		nd.err = detail
		n.log.printf("btp serve: NACK from %s: %s version %s (Envoy keeps version %s): %s", st.node, r.typ, r.version, nd.acked[r.typ], detail)
		return
	}
	nd.acked[r.typ] = r.version
	n.wake()
	if v, ok := nd.nacked[r.typ]; ok && !olderThan(r.version, v) {
		delete(nd.nacked, r.typ)
		if len(nd.nacked) == 0 {
			nd.err = ""
		}
	}
	n.checkAcked()
}

func (n *nodes) response(streams map[int64]*stream, id int64, typ, version, nonce string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := streams[id]
	if st == nil {
		return
	}
	st.nonces[nonce] = sent{typ: typ, version: version}
	if st.node != "" {
		n.node(st.node).sent[typ] = version
	}
}

func (n *nodes) node(id string) *node {
	nd := n.byID[id]
	if nd == nil {
		nd = &node{sent: map[string]string{}, acked: map[string]string{}, nacked: map[string]string{}}
		n.byID[id] = nd
	}
	return nd
}

// checkAcked prints "version N acked by K/K Envoys" once every connected
// Envoy acked all it was sent and has the current version.
func (n *nodes) checkAcked() {
	cur := strconv.FormatUint(n.current(), 10)
	var ids []string
	for id, nd := range n.byID {
		if nd.streams == 0 {
			continue
		}
		latest := ""
		for t, v := range nd.sent {
			if nd.acked[t] != v {
				return
			}
			if latest == "" || olderThan(latest, v) {
				latest = v
			}
		}
		if latest != cur {
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	line := "btp serve: version " + cur + " acked by " + strconv.Itoa(len(ids)) + "/" + strconv.Itoa(len(ids)) + " Envoys (" + strings.Join(ids, ", ") + ")"
	if line != n.lastAcked {
		n.lastAcked = line
		n.log.printf("%s", line)
	}
}

// olderThan compares two versions of this server (decimal counters).
func olderThan(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}

// NodeStatus is one Envoy on the status endpoint.
type NodeStatus struct {
	Connected bool              `json:"connected"`
	Acked     map[string]string `json:"acked"`
	Nacked    map[string]string `json:"nacked"`
	Error     string            `json:"error"`
}

func (n *nodes) status() map[string]NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]NodeStatus, len(n.byID))
	for id, nd := range n.byID {
		s := NodeStatus{Connected: nd.streams > 0, Acked: map[string]string{}, Nacked: map[string]string{}, Error: nd.err}
		for t, v := range nd.acked {
			s.Acked[t] = v
		}
		for t, v := range nd.nacked {
			s.Nacked[t] = v
		}
		out[id] = s
	}
	return out
}

// The go-control-plane server callbacks.

func (n *nodes) OnStreamOpen(_ context.Context, id int64, _ string) error {
	n.open(n.sotw, id)
	return nil
}

func (n *nodes) OnStreamClosed(id int64, _ *corev3.Node) { n.closed(n.sotw, id) }

func (n *nodes) OnStreamRequest(id int64, r *discoveryv3.DiscoveryRequest) error {
	n.request(n.sotw, id, r.GetNode().GetId(), r.GetResponseNonce(), r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
	return nil
}

func (n *nodes) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryResponse) {
	n.response(n.sotw, id, r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce())
}

func (n *nodes) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	n.open(n.delta, id)
	return nil
}

func (n *nodes) OnDeltaStreamClosed(id int64, _ *corev3.Node) { n.closed(n.delta, id) }

func (n *nodes) OnStreamDeltaRequest(id int64, r *discoveryv3.DeltaDiscoveryRequest) error {
	n.request(n.delta, id, r.GetNode().GetId(), r.GetResponseNonce(), r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
	return nil
}

func (n *nodes) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, r *discoveryv3.DeltaDiscoveryResponse) {
	n.response(n.delta, id, r.GetTypeUrl(), r.GetSystemVersionInfo(), r.GetNonce())
}

func (n *nodes) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

func (n *nodes) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
