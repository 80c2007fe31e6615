package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/e2e/harness"
	"github.com/envoy-btp/envoy-btp/lbhash"
	"github.com/envoy-btp/envoy-btp/lbhash/fromxds"
	"github.com/envoy-btp/envoy-btp/policy"
)

// lbRequests is how many requests, each with its own key, every case sends.
const lbRequests = 1000

// lbCase is one consistentHash configuration proven against Envoy.
type lbCase struct {
	name  string
	hash  string // the consistentHash block of the policy (YAML)
	pools []lbPoolSpec
	// edit changes each cluster of the route after rendering, for
	// settings Envoy supports but Envoy Gateway never renders (ring hash,
	// endpoint weights, localities, hostname keys): lbhash models them too.
	edit func(t *testing.T, c *clusterv3.Cluster)
	// extra is more of the policy spec (YAML at spec level).
	extra string
	// failing is how many backends of the first pool answer 503, so Envoy
	// retries those requests on another endpoint.
	failing int
	// newConn sends every request on a fresh connection (source IP and
	// generated-cookie cases, where the connection's addresses are the key).
	newConn bool
	// forged requests carry a client-chosen X-Forwarded-For that the
	// rendered listener must ignore.
	forged bool
	// request builds request i; src is the source IP to bind (nil: any).
	request func(i int, url string) (*http.Request, net.IP)
}

type lbPoolSpec struct {
	size, weight int
}

// lbPool is what the resource template sees.
type lbPool struct {
	Name     string
	Weight   int
	Backends []*harness.Backend
}

func lbCases() []lbCase {
	one := []lbPoolSpec{{size: 5, weight: 1}}
	get := func(url string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return req
	}
	header := func(i int, url string) (*http.Request, net.IP) {
		req := get(url + "/")
		req.Header.Set("x-user", fmt.Sprintf("user-%d-%x", i, rand.Uint32()))
		return req, nil
	}
	return []lbCase{
		{
			name: "SourceIP", hash: "type: SourceIP", pools: one, newConn: true,
			request: func(i int, url string) (*http.Request, net.IP) {
				// Every request from its own loopback address 127.a.b.c.
				return get(url + "/"), net.IPv4(127, byte(1+i/250), byte(i%250), byte(1+(i*37)%250))
			},
		},
		{
			// A client's X-Forwarded-For would decide the source IP Envoy
			// hashes unless the listener uses the connection's address;
			// btp renders use_remote_address (as Envoy Gateway does), so
			// 1000 forged addresses from one connection address all land
			// on the one endpoint that address hashes to.
			name: "SourceIPIgnoresForwardedFor", hash: "type: SourceIP", pools: one, forged: true,
			request: func(i int, url string) (*http.Request, net.IP) {
				req := get(url + "/")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.1, 198.51.%d.%d", i/250, 1+i%250))
				return req, nil
			},
		},
		{name: "Header", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header},
		{
			name: "Headers", pools: one,
			hash: "type: Headers\nheaders: [{name: x-tenant}, {name: x-user}]",
			request: func(i int, url string) (*http.Request, net.IP) {
				req := get(url + "/")
				switch i % 4 {
				case 0: // only the second header: the first contributes nothing
					req.Header.Set("x-user", fmt.Sprintf("u%d", i))
				case 1: // a header sent twice: Envoy sorts and chains its values
					req.Header.Add("x-tenant", fmt.Sprintf("t%d", i))
					req.Header.Add("x-tenant", fmt.Sprintf("a%d", i))
					req.Header.Set("x-user", fmt.Sprintf("u%d", i))
				default:
					req.Header.Set("x-tenant", fmt.Sprintf("t%d", i%7))
					req.Header.Set("x-user", fmt.Sprintf("u%d-%x", i, rand.Uint32()))
				}
				return req, nil
			},
		},
		{
			name: "Cookie", pools: one,
			hash: "type: Cookie\ncookie: {name: session}",
			request: func(i int, url string) (*http.Request, net.IP) {
				req := get(url + "/")
				v := fmt.Sprintf("s%d-%x", i, rand.Uint64())
				if i%3 == 0 {
					v = `"` + v + `"` // quoted values hash without the quotes
				}
				req.Header.Set("Cookie", fmt.Sprintf("theme=dark; session=%s; lang=en", v))
				return req, nil
			},
		},
		{
			name: "CookieGenerated", pools: one, newConn: true,
			hash: "type: Cookie\ncookie: {name: session, ttl: 1h, attributes: {SameSite: Strict}}",
			request: func(i int, url string) (*http.Request, net.IP) {
				return get(url + "/"), nil // no cookie: Envoy generates one per connection
			},
		},
		{
			name: "QueryParams", pools: one,
			hash: "type: QueryParams\nqueryParams: [{name: user}, {name: tenant}]",
			request: func(i int, url string) (*http.Request, net.IP) {
				q := fmt.Sprintf("user=u%d-%x&tenant=t%d", i, rand.Uint32(), i%5)
				switch i % 5 {
				case 0:
					q = fmt.Sprintf("tenant=only-%d", i)
				case 1:
					q = fmt.Sprintf("x=1&user=first-%d&user=second&tenant", i)
				}
				return get(url + "/p?" + q), nil
			},
		},
		{
			name: "WeightedBackends", hash: "type: Header\nheader: {name: x-user}",
			pools: []lbPoolSpec{{size: 3, weight: 3}, {size: 2, weight: 1}}, request: header,
		},
		{
			name: "RingHash", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			edit: setLB(&ringhashv3.RingHash{}),
		},
		{
			name: "RingHashMurmur", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			edit: setLB(&ringhashv3.RingHash{HashFunction: ringhashv3.RingHash_MURMUR_HASH_2, MinimumRingSize: wrapperspb.UInt64(64)}),
		},
		{
			name: "RetryAvoidsFailedEndpoints", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			// Envoy's retry budget must never refuse a retry here (a
			// refused retry is the budget's business, tested in
			// retry_test.go): a generous one keeps every retry the model
			// predicts.
			extra:   "retry: {numRetries: 3, retryOn: {httpStatusCodes: [503]}}\ncircuitBreaker: {retryBudget: {percent: {numerator: 100}, minRetryConcurrency: 10000}}",
			failing: 2,
		},
		{name: "TableSize", hash: "type: Header\nheader: {name: x-user}\ntableSize: 251", pools: one, request: header},
		{
			name: "WeightedEndpoints", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			edit: func(t *testing.T, c *clusterv3.Cluster) {
				for i, lbe := range c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints() {
					lbe.LoadBalancingWeight = wrapperspb.UInt32(uint32(1 + i*2))
				}
			},
		},
		{
			name: "LocalityWeighted", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			edit: func(t *testing.T, c *clusterv3.Cluster) {
				setLB(&maglevv3.Maglev{LocalityWeightedLbConfig: &commonv3.LocalityLbConfig_LocalityWeightedLbConfig{}})(t, c)
				// Listed zone-c, zone-b, zone-a (Envoy sorts them), weights 1, 3, 2.
				lbes := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()
				zone := func(z string, w uint32, e ...*endpointv3.LbEndpoint) *endpointv3.LocalityLbEndpoints {
					return &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: z}, LoadBalancingWeight: wrapperspb.UInt32(w), LbEndpoints: e}
				}
				lbes[1].LoadBalancingWeight = wrapperspb.UInt32(4)
				c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{
					zone("zone-c", 1, lbes[0], lbes[1]), zone("zone-b", 3, lbes[2]), zone("zone-a", 2, lbes[3], lbes[4]),
				}
			},
		},
		{
			name: "HostnameKeys", hash: "type: Header\nheader: {name: x-user}", pools: one, request: header,
			edit: func(t *testing.T, c *clusterv3.Cluster) {
				setLB(&maglevv3.Maglev{ConsistentHashingLbConfig: &commonv3.ConsistentHashingLbConfig{UseHostnameForHashing: true}})(t, c)
				for i, lbe := range c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints() {
					lbe.GetEndpoint().Hostname = fmt.Sprintf("carts-%d.example", i)
					if i == 2 { // envoy.lb hash_key metadata wins over the hostname
						lbe.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
							"envoy.lb": {Fields: map[string]*structpb.Value{"hash_key": structpb.NewStringValue("pinned-key")}},
						}}
					}
				}
			},
		},
	}
}

// TestLBHashPredictsEnvoy renders a ConsistentHash route for every hash
// type, sends lbRequests requests with distinct keys through a real Envoy,
// and requires the backend Envoy chose to be lbhash's prediction for every
// single request.
func TestLBHashPredictsEnvoy(t *testing.T) {
	harness.EnvoyBinary(t) // skips (or fails in CI) without an Envoy
	for _, tc := range lbCases() {
		t.Run(tc.name, func(t *testing.T) { runLBCase(t, tc) })
	}
}

func runLBCase(t *testing.T, tc lbCase) {
	port, admin := harness.FreePort(t), harness.FreePort(t)
	var pools []lbPool
	addrOf := map[string]string{} // backend name -> ip:port
	for pi, ps := range tc.pools {
		p := lbPool{Name: fmt.Sprintf("pool-%d", pi), Weight: ps.weight}
		p.Backends = harness.StartBackends(t, p.Name, ps.size)
		for _, b := range p.Backends {
			addrOf[b.Name] = b.Addr()
		}
		pools = append(pools, p)
	}
	var failed []string
	for _, b := range pools[0].Backends[:tc.failing] {
		b.SetStatus(http.StatusServiceUnavailable)
		failed = append(failed, b.Addr())
	}
	boot, resources := renderLB(t, tc, port, admin, pools)
	envoy := harness.StartEnvoy(t, boot, admin)

	// The prediction is built from the very YAML Envoy runs.
	rt, trustXFF := predictor(t, boot)
	if tc.forged && trustXFF {
		t.Fatal("the rendered listener takes the client address from X-Forwarded-For: a client can choose its own SourceIP hash (and sourceCIDR bucket)")
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := lbClient(tc.newConn)

	hits := map[string]int{}
	var mismatches []string
	unpredictable, retried, exhausted := 0, 0, 0
	for i := 0; i < lbRequests; i++ {
		req, src := tc.request(i, url)
		var local, remote net.Addr
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			local, remote = ci.Conn.LocalAddr(), ci.Conn.RemoteAddr()
		}}
		ctx := httptrace.WithClientTrace(context.WithValue(context.Background(), sourceIPKey{}, src), trace)
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		// With failing endpoints a request may run out of retries; the
		// backend header still says which endpoint answered last.
		if resp.StatusCode != http.StatusOK && len(failed) == 0 {
			t.Fatalf("request %d: status %d, headers %v", i, resp.StatusCode, resp.Header)
		}
		got := addrOf[resp.Header.Get(harness.BackendHeader)]
		hits[got]++

		lr := lbRequestOf(req, local, remote)
		if xff := req.Header.Get("X-Forwarded-For"); xff != "" && trustXFF {
			// Envoy takes the last X-Forwarded-For address as the client.
			parts := strings.Split(xff, ",")
			lr.Source = netip.AddrPortFrom(netip.MustParseAddr(strings.TrimSpace(parts[len(parts)-1])), lr.Source.Port())
		}
		choice := rt.Choose(lr)
		var tried []string
		if len(failed) > 0 {
			// Envoy tries the hashed endpoint, then retries on others
			// until one does not fail.
			for ep := rt.Endpoint(choice); slices.Contains(failed, ep) && len(tried) < int(rt.Retries); ep = rt.Endpoint(choice) {
				tried = append(tried, ep)
				choice = rt.Retry(lr, tried)
			}
			if len(tried) > 0 {
				retried++
			}
			if slices.Contains(failed, rt.Endpoint(choice)) {
				exhausted++
			}
		}
		if choice.Outcome == lbhash.Unpredictable {
			unpredictable++
			continue
		}
		if choice.Outcome == lbhash.FromGeneratedCookie {
			// Envoy must have set the very cookie lbhash derived.
			want, _ := lbhash.GeneratedCookie(lr.Source, lr.Local)
			if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, `session="`+want+`"`) {
				t.Fatalf("request %d: Set-Cookie %q, want session=%q", i, sc, want)
			}
		}
		if want := rt.Endpoint(choice); want != got {
			mismatches = append(mismatches, fmt.Sprintf("request %d (hash %d): Envoy chose %s, lbhash predicted %s", i, choice.Hash, got, want))
		}
		// Ask the CLI too, for a few requests with the same key, where the
		// bootstrap is the one it renders (no edit).
		if tc.edit == nil && i < lbCLIChecks {
			if cli := btpHash(t, resources, lr, tried); cli != got {
				t.Errorf("request %d: `btp hash` says %s, Envoy chose %s", i, cli, got)
			}
		}
	}
	t.Logf("%d requests, %d unpredictable, %d retried (%d ran out of retries), spread %v", lbRequests, unpredictable, retried, exhausted, hits)
	if len(failed) > 0 && retried == 0 {
		t.Errorf("no request was retried: the failing endpoints %v were never picked", failed)
	}
	if len(failed) > 0 {
		// lbhash models Envoy's retries, not a budget: a refused retry
		// would show up as a misprediction, so say so.
		for name, n := range envoy.Stats(t) {
			if strings.HasSuffix(name, ".upstream_rq_retry_overflow") && n != 0 {
				t.Errorf("%s = %d: Envoy refused retries; this case needs every retry Envoy would make", name, n)
			}
		}
	}
	if unpredictable > 0 {
		t.Errorf("%d requests had no predictable hash; every request of this test carries its key", unpredictable)
	}
	if len(mismatches) > 0 {
		t.Errorf("%d of %d predictions wrong; first ones:\n%s", len(mismatches), lbRequests,
			strings.Join(mismatches[:min(10, len(mismatches))], "\n"))
	}
	if tc.forged {
		// Every request came from 127.0.0.1: one endpoint, whatever the
		// forged headers said.
		if len(hits) != 1 {
			t.Errorf("forged X-Forwarded-For spread requests over %v; the connection's address should decide", hits)
		}
		return
	}
	// A spread over every backend shows the test exercised the table.
	for name, addr := range addrOf {
		if hits[addr] == 0 && !slices.Contains(failed, addr) {
			t.Errorf("backend %s (%s) got no request: keys not spread", name, addr)
		}
	}
}

// lbCLIChecks is how many requests per case are also predicted by running
// `btp hash`.
const lbCLIChecks = 15

// btpHash runs `btp hash` with r's key and returns the endpoint it prints,
// or the retry endpoint when the request failed on the tried endpoints.
func btpHash(t *testing.T, resources string, r *lbhash.Request, tried []string) string {
	t.Helper()
	args := []string{"hash", "-f", resources, "--route", "default/hashed", "--path", r.Path}
	for _, ep := range tried {
		args = append(args, "--failed", ep)
	}
	if r.Source.IsValid() {
		args = append(args, "--source-ip", r.Source.String())
	}
	if r.Local.IsValid() {
		args = append(args, "--local", r.Local.String())
	}
	for _, h := range r.Headers {
		if !strings.EqualFold(h.Name, "cookie") {
			args = append(args, "--header", h.Name+"="+h.Value)
			continue
		}
		for _, c := range strings.Split(h.Value, ";") {
			args = append(args, "--cookie", strings.TrimSpace(c))
		}
	}
	out, err := exec.Command(harness.BtpBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("btp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	want := "endpoint: "
	if len(tried) > 0 {
		want = "retry:    "
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, want); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("btp hash printed no endpoint:\n%s", out)
	return ""
}

// renderLB executes the resource template, loads and renders it as `btp
// render --host dynamic-module` does, and returns the bootstrap YAML and
// the resource file.
func renderLB(t *testing.T, tc lbCase, port, admin int, pools []lbPool) (string, string) {
	t.Helper()
	tpl := template.Must(template.New("lbhash.yaml.tmpl").Funcs(template.FuncMap{
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
	}).ParseFiles(filepath.Join("testdata", "lbhash.yaml.tmpl")))
	var res bytes.Buffer
	if err := tpl.Execute(&res, map[string]any{"Port": port, "Pools": pools, "ConsistentHash": tc.hash, "Extra": tc.extra}); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(in, res.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := policy.Load([]string{in}, nil)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.String())
	}
	b, err := bootstrap.Render(m, bootstrap.Options{Host: bootstrap.HostDynamicModule, AdminPort: uint32(admin)})
	if err != nil {
		t.Fatalf("render: %v\n%s", err, res.String())
	}
	if tc.edit != nil {
		edited := 0
		for _, c := range b.GetStaticResources().GetClusters() {
			if strings.HasPrefix(c.GetName(), "httproute/default/hashed/") {
				tc.edit(t, c)
				edited++
			}
		}
		if edited == 0 {
			t.Fatal("no cluster of the hashed route to edit")
		}
	}
	out, err := bootstrap.YAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), in
}

// setLB replaces the cluster's load balancing policy.
func setLB(m proto.Message) func(*testing.T, *clusterv3.Cluster) {
	return func(t *testing.T, c *clusterv3.Cluster) {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		c.LoadBalancingPolicy = &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: "lb", TypedConfig: a},
		}}}
	}
}

// predictor parses the bootstrap YAML and models the hashed route; trustXFF
// says whether the listener takes the client address from X-Forwarded-For
// (use_remote_address false, Envoy's default).
func predictor(t *testing.T, boot string) (*lbhash.Route, bool) {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(boot))
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("parse rendered bootstrap: %v", err)
	}
	routes, err := fromxds.Routes(b, func(name string) bool { return strings.HasPrefix(name, "httproute/default/hashed/") })
	if err != nil || len(routes) == 0 {
		t.Fatalf("route httproute/default/hashed not found in the bootstrap (err %v)", err)
	}
	rt, err := fromxds.Route(routes[0], fromxds.Clusters(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Policies) == 0 {
		t.Fatal("the rendered route has no hash policy")
	}
	trustXFF, err := fromxds.TrustsForwardedFor(b, routes[0].GetName())
	if err != nil {
		t.Fatal(err)
	}
	return rt, trustXFF
}

// lbRequestOf is what Envoy's hash policies see of req on a connection from
// local to remote (client side addresses).
func lbRequestOf(req *http.Request, local, remote net.Addr) *lbhash.Request {
	r := &lbhash.Request{Path: req.URL.RequestURI()}
	if a, err := netip.ParseAddrPort(local.String()); err == nil {
		r.Source = a
	}
	if a, err := netip.ParseAddrPort(remote.String()); err == nil {
		r.Local = a
	}
	for name, vals := range req.Header {
		for _, v := range vals {
			r.Headers = append(r.Headers, lbhash.Field{Name: name, Value: v})
		}
	}
	return r
}

type sourceIPKey struct{}

// lbClient dials from the source IP a request's context carries; newConn
// makes every request use a connection of its own.
func lbClient(newConn bool) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if ip, _ := ctx.Value(sourceIPKey{}).(net.IP); ip != nil {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{Proxy: nil, DialContext: dial, DisableKeepAlives: newConn, MaxIdleConnsPerHost: 4},
	}
}
