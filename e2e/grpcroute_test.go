package e2e

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// GRPCRoute through Envoy with the module, against real grpc-go servers.
// Mirrors Envoy Gateway's GRPCRouteBackendIPTest
// (test/e2e/tests/grpcroute_with_backend.go) and the Gateway API
// conformance GRPCExactMethodMatching / GRPCRouteHeaderMatching cases it
// runs (routing by service, method and header), its RetryTest
// (test/e2e/tests/retry.go: the cluster's upstream_rq_retry stat counts the
// retries), and the BackendTrafficPolicy local rate limit and fault abort
// tests, with gRPC-shaped answers.
func TestGRPCRoute(t *testing.T) {
	a, b := startGRPCBackend(t, "a"), startGRPCBackend(t, "b")
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"a": a.port, "b": b.port}
	boot := harness.Render(t, harness.Execute(t, "testdata/grpcroute.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	envoy := harness.StartEnvoy(t, boot, v.AdminPort)
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(v.Port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	t.Run("routing by service, method and header", func(t *testing.T) {
		for _, tc := range []struct {
			method, tenant, want string
		}{
			{"/btp.test.Echo/Say", "", "a /btp.test.Echo/Say"},      // Exact service + method
			{"/btp.test.Echo/Say", "acme", "b /btp.test.Echo/Say"},  // the same, plus a header match
			{"/btp.test.Echo/Say", "other", "a /btp.test.Echo/Say"}, // header value differs
			{"/btp.test.Other/Say", "", "b /btp.test.Other/Say"},    // RegularExpression service
		} {
			got, _, err := callEcho(conn, tc.method, tc.tenant)
			if err != nil || got != tc.want {
				t.Errorf("%s (x-tenant %q): %q %v, want %q", tc.method, tc.tenant, got, err, tc.want)
			}
		}
		// A standard service, matched by service only: the health check
		// answers from backend b, whose health server is the only one
		// reporting "b-only" as SERVING.
		hc := healthpb.NewHealthClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "b-only"})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health Check via the service-only match: %v %v, want SERVING from backend b", resp, err)
		}
		// No rule matches: Envoy's 404, which a gRPC client sees as
		// UNIMPLEMENTED.
		if _, _, err := callEcho(conn, "/btp.test.Echo/Nope", ""); status.Code(err) != codes.Unimplemented {
			t.Errorf("unrouted method: %v, want Unimplemented", err)
		}
	})

	t.Run("local rate limit answers UNAVAILABLE", func(t *testing.T) {
		// Envoy's local rate limit answers a gRPC request with
		// UNAVAILABLE (its 429 mapped by the gRPC status mapping); so does
		// the filter.
		before := a.calls("/btp.test.Echo/Limited")
		for i := 1; i <= 3; i++ {
			_, md, err := callEcho(conn, "/btp.test.Echo/Limited", "")
			if i < 3 && err != nil {
				t.Errorf("call %d: %v, want OK under the limit of 2", i, err)
			}
			if i == 3 {
				if status.Code(err) != codes.Unavailable {
					t.Errorf("call 3: %v, want Unavailable (over the limit)", err)
				}
				if got := md.Get("x-ratelimit-limit"); len(got) != 1 || got[0] != "2" {
					t.Errorf("call 3: x-ratelimit-limit %v, want [2]", got)
				}
			}
		}
		if got := a.calls("/btp.test.Echo/Limited") - before; got != 2 {
			t.Errorf("backend saw %d Limited calls, want 2", got)
		}
		if got := envoy.Stat(t, "btp.ratelimit.over_limit"); got != 1 {
			t.Errorf("btp.ratelimit.over_limit %d, want 1", got)
		}
	})

	t.Run("fault abort answers the configured grpcStatus", func(t *testing.T) {
		_, _, err := callEcho(conn, "/btp.test.Echo/Aborted", "")
		if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != "fault filter abort" {
			t.Errorf("aborted call: %v, want PermissionDenied (grpcStatus 7) \"fault filter abort\"", err)
		}
		if got := a.calls("/btp.test.Echo/Aborted"); got != 0 {
			t.Errorf("backend saw %d Aborted calls, want 0", got)
		}
		if got := envoy.Stat(t, "btp.fault.aborts"); got != 1 {
			t.Errorf("btp.fault.aborts %d, want 1", got)
		}
	})

	const flaky = "cluster.grpcroute/default/grpc/rule/6."
	t.Run("retries on unavailable", func(t *testing.T) {
		// Two UNAVAILABLE answers, then OK: the call succeeds on the
		// third attempt (numRetries 3), although every gRPC call is a POST.
		a.failNext(2, codes.Unavailable)
		got, md, err := callEcho(conn, "/btp.test.Echo/Fail", "")
		if err != nil || got != "a /btp.test.Echo/Fail" {
			t.Fatalf("flaky call: %q %v, want OK after retries", got, err)
		}
		if n := a.calls("/btp.test.Echo/Fail"); n != 3 {
			t.Errorf("backend saw %d attempts, want 3 (2 failures + 1 success)", n)
		}
		// Envoy Gateway does not set include_attempt_count_in_response.
		if c := md.Get("x-envoy-attempt-count"); len(c) != 0 {
			t.Errorf("x-envoy-attempt-count %v, want none (Envoy Gateway does not ask for it)", c)
		}
		if n := envoy.Stat(t, flaky+"upstream_rq_retry"); n != 2 {
			t.Errorf("upstream_rq_retry %d, want 2", n)
		}
		if n := envoy.Stat(t, "btp.retry.allowed"); n != 1 {
			t.Errorf("btp.retry.allowed %d, want 1", n)
		}
	})

	t.Run("no retry on a condition not listed", func(t *testing.T) {
		a.failNext(1, codes.Internal)
		before := a.calls("/btp.test.Echo/Fail")
		if _, _, err := callEcho(conn, "/btp.test.Echo/Fail", ""); status.Code(err) != codes.Internal {
			t.Errorf("call failing with INTERNAL: %v, want Internal", err)
		}
		if n := a.calls("/btp.test.Echo/Fail") - before; n != 1 {
			t.Errorf("backend saw %d attempts, want 1 (internal is not in retryOn)", n)
		}
		if n := envoy.Stat(t, flaky+"upstream_rq_retry"); n != 2 {
			t.Errorf("upstream_rq_retry %d, want still 2", n)
		}
		// grpc_stats (rendered for listeners with a GRPCRoute) counts the
		// calls by gRPC status: 1 success, 1 failure.
		s := envoy.Stats(t)
		if s[flaky+"grpc.btp.test.Echo.Fail.success"] != 1 || s[flaky+"grpc.btp.test.Echo.Fail.failure"] != 1 {
			var got []string
			for k, v := range s {
				if strings.Contains(k, ".grpc.") {
					got = append(got, k+"="+strconv.FormatInt(v, 10))
				}
			}
			t.Errorf("grpc_stats for Fail: want success 1 and failure 1; have %v", got)
		}
	})
}

// callEcho invokes a unary method of the test services with a StringValue
// and returns the answer, the response headers and trailers merged, and the
// error.
func callEcho(conn *grpc.ClientConn, method, tenant string) (string, metadata.MD, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if tenant != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-tenant", tenant)
	}
	var header, trailer metadata.MD
	out := &wrapperspb.StringValue{}
	err := conn.Invoke(ctx, method, wrapperspb.String("hi"), out, grpc.Header(&header), grpc.Trailer(&trailer))
	return out.GetValue(), metadata.Join(header, trailer), err
}

// grpcBackend is a grpc-go server on loopback serving btp.test.Echo (Say,
// Limited, Aborted, Fail, Nope) and btp.test.Other (Say) through
// hand-written service descriptors (StringValue in and out, so no generated
// code), plus the standard health service. Every method answers
// "<backend name> <full method>"; Fail first fails as failNext says.
type grpcBackend struct {
	name     string
	port     int
	mu       sync.Mutex
	count    map[string]int64
	failLeft atomic.Int64
	failCode atomic.Uint32
}

func startGRPCBackend(t *testing.T, name string) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{name: name, port: ln.Addr().(*net.TCPAddr).Port, count: map[string]int64{}}
	srv := grpc.NewServer()
	for svc, methods := range map[string][]string{
		"btp.test.Echo":  {"Say", "Limited", "Aborted", "Fail", "Nope"},
		"btp.test.Other": {"Say"},
	} {
		sd := &grpc.ServiceDesc{ServiceName: svc, HandlerType: (*any)(nil)}
		for _, m := range methods {
			full := "/" + svc + "/" + m
			sd.Methods = append(sd.Methods, grpc.MethodDesc{MethodName: m, Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				in := &wrapperspb.StringValue{}
				if err := dec(in); err != nil {
					return nil, err
				}
				return b.answer(full)
			}})
		}
		srv.RegisterService(sd, struct{}{})
	}
	hs := health.NewServer()
	hs.SetServingStatus(name+"-only", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return b
}

func (b *grpcBackend) answer(full string) (any, error) {
	b.mu.Lock()
	b.count[full]++
	b.mu.Unlock()
	if strings.HasSuffix(full, "/Fail") && b.failLeft.Add(-1) >= 0 {
		return nil, status.Error(codes.Code(b.failCode.Load()), "failing on purpose")
	}
	return wrapperspb.String(b.name + " " + full), nil
}

// failNext makes the next n Fail calls answer code.
func (b *grpcBackend) failNext(n int64, code codes.Code) {
	b.failCode.Store(uint32(code))
	b.failLeft.Store(n)
}

func (b *grpcBackend) calls(full string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count[full]
}

// assertLoopbackOnly fails unless every socket address in the bootstrap is
// on loopback (the listener's 0.0.0.0 bind aside): the network rule.
func assertLoopbackOnly(t *testing.T, boot string) {
	t.Helper()
	lines := strings.Split(boot, "\n")
	n := 0
	for _, l := range lines {
		addr, ok := strings.CutPrefix(strings.TrimSpace(l), "address: ")
		if !ok || strings.HasPrefix(addr, "'") || strings.Contains(addr, "{") {
			continue
		}
		n++
		if addr != "0.0.0.0" && !strings.HasPrefix(addr, "127.") {
			t.Fatalf("bootstrap has a non-loopback address %q", addr)
		}
	}
	if n == 0 {
		t.Fatal("no socket address found in the bootstrap")
	}
}
