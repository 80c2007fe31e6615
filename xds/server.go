package xds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/envoy-btp/envoy-btp/bootstrap"
)

// snapshotKey is the one cache key: every node, whatever its id, gets the
// current snapshot (an Envoy started late included).
const snapshotKey = "btp"

type oneKey struct{}

func (oneKey) ID(*corev3.Node) string { return snapshotKey }

// Server is the ADS server and its state: the served snapshot, the last
// refused edit, and what each Envoy acked.
type Server struct {
	cache cachev3.SnapshotCache
	log   *logger
	nodes *nodes

	pushMu sync.Mutex // one push at a time; held while the cache sends

	// LingerFor is how long a cluster that left the render is still
	// served (order.go).
	LingerFor time.Duration

	// Under pushMu: the latest good render, and the clusters that left it
	// and are still served for a while (order.go).
	render  *bootstrap.Resources
	linger  map[string]lingering
	cleanup *time.Timer

	mu       sync.Mutex
	version  uint64               // served; 0 until the first good push
	res      *bootstrap.Resources // served: render, lingering clusters
	refused  string               // errors of the last refused edit, until a good one
	policies []*egv1a1.BackendTrafficPolicy
}

// New returns a Server logging to w (one line per push, per NACK and per
// version every connected Envoy acked).
func New(w io.Writer) *Server {
	l := &logger{w: w}
	s := &Server{cache: cachev3.NewSnapshotCache(true, oneKey{}, quiet{}), log: l, linger: map[string]lingering{}, LingerFor: LingerFor}
	s.nodes = newNodes(l, s.Version)
	return s
}

// Version is the served snapshot's version, 0 before the first push.
func (s *Server) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Push serves res, the latest good render, when it differs from what is
// served, make before break (order.go), and clears a refused edit.
// policies are the loaded policies with their status. It returns the
// served version and whether it is new.
func (s *Server) Push(res *bootstrap.Resources, policies []*egv1a1.BackendTrafficPolicy) (uint64, bool, error) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	s.policies = policies
	served, before := s.res, s.version
	s.mu.Unlock()
	if served != nil && s.nodes.active() > 0 {
		if bridge := withAdded(served, res); bridge != nil {
			v, types, err := s.set(bridge, " (clusters first: the routes that use them follow once the Envoys have them)")
			if err != nil {
				return s.refuseSet(err)
			}
			if !s.nodes.waitAcked(v, types, ackWait) {
				s.log.printf("btp serve: version %d: not every Envoy acked it within %s; pushing the routes anyway", v, ackWait)
			}
		}
	}
	s.render = res
	v, err := s.reconcile()
	if err != nil {
		return s.refuseSet(err)
	}
	s.mu.Lock()
	s.refused = ""
	s.mu.Unlock()
	return v, v != before, nil
}

func (s *Server) refuseSet(err error) (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = err.Error()
	return s.version, false, err
}

// set serves res as the next version; note ends the push line.
func (s *Server) set(res *bootstrap.Resources, note string) (uint64, []string, error) {
	s.mu.Lock()
	prev, next := s.res, s.version+1
	s.mu.Unlock()
	snap, err := NewSnapshot(strconv.FormatUint(next, 10), res)
	if err != nil {
		return 0, nil, err
	}
	changed, types := changes(prev, res)
	s.mu.Lock()
	s.version, s.res = next, res
	s.mu.Unlock()
	s.log.printf("btp serve: version %d: %d listeners, %d routes, %d clusters, %d endpoints; changed: %s%s",
		next, len(res.Listeners), len(res.Routes), len(res.Clusters), len(res.Endpoints), changed, note)
	// Outside s.mu: the cache answers open watches from here, and the
	// callbacks read the version.
	if err := s.cache.SetSnapshot(context.Background(), snapshotKey, snap); err != nil {
		return next, types, err
	}
	return next, types, nil
}

// Refuse records a bad edit: the served snapshot stays, err is shown on the
// status endpoint until the next good push. policies are those of the
// refused load when it got that far (nil keeps the previous ones).
func (s *Server) Refuse(err error, policies []*egv1a1.BackendTrafficPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = err.Error()
	if policies != nil {
		s.policies = policies
	}
	s.log.printf("btp serve: refused (still serving version %d):\n%v", s.version, err)
}

// Serve runs the ADS server (state of the world and delta) on lis until ctx
// ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := grpc.NewServer(
		// Envoy's xDS cluster pings every few seconds (RenderXDS); grpc-go
		// would otherwise close the connection for too many pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, s.cache, s.nodes))
	go func() {
		<-ctx.Done()
		g.Stop()
	}()
	if err := g.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// logger serialises lines from the watcher and the gRPC callbacks.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// quiet drops go-control-plane's own logging: btp logs what an operator
// needs from the callbacks.
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
