package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// TestXDSServeKeepsBuckets: a push from `btp serve` makes Envoy parse every
// route's config of the route table again. The rules of /limited did not
// change, so its buckets keep their counts (a Distinct client stays
// refused, the default bucket keeps its remaining tokens); /other's limit
// changed, so it starts fresh.
func TestXDSServeKeepsBuckets(t *testing.T) {
	bs := harness.StartBackends(t, "be", 1)
	v := harness.NewVars(t, bs)
	in := filepath.Join(t.TempDir(), "resources.yaml")
	write := func(other int) {
		t.Helper()
		v.Values = map[string]any{"other": other}
		writeAtomicFile(t, in, harness.Execute(t, "testdata/xds-buckets.yaml.tmpl", v))
	}
	write(3)
	static := harness.Render(t, harness.Execute(t, "testdata/xds-buckets.yaml.tmpl", v), v.AdminPort)
	harness.Loopback(t, static, map[string]*harness.Backend{bs[0].Addr(): bs[0]})

	srv := startServe(t, in)
	srv.waitStatus(t, "version 1", func(s serveStatus) bool { return s.Version == "1" })
	node := "e2e-" + t.Name()
	boot, err := exec.Command(harness.BtpBinary(t), "render", "--xds", "grpc://"+srv.xdsAddr, "--node-id", node, "--admin-port", strconv.Itoa(v.AdminPort)).Output()
	if err != nil {
		t.Fatalf("btp render --xds: %v", err)
	}
	for name, addrs := range harness.ClusterAddrs(t, string(boot)) {
		if name != "btp-xds" || len(addrs) != 1 || addrs[0] != srv.xdsAddr {
			t.Fatalf("xDS bootstrap cluster %s: %v, want only btp-xds at %s", name, addrs, srv.xdsAddr)
		}
	}
	harness.StartEnvoy(t, string(boot), v.AdminPort)
	srv.waitStatus(t, "Envoy acked version 1", func(s serveStatus) bool { return s.acked(node, "1") })

	url := "http://127.0.0.1:" + strconv.Itoa(v.Port)
	alice := map[string]string{"x-user": "alice"}
	check := func(what, path string, hdr map[string]string, wantCode int, wantRemaining string) {
		t.Helper()
		code, h, _ := harness.Get(t, url+path, hdr)
		if code != wantCode || h.Get("x-ratelimit-remaining") != wantRemaining {
			t.Fatalf("%s: %d with x-ratelimit-remaining %q, want %d with %q", what, code, h.Get("x-ratelimit-remaining"), wantCode, wantRemaining)
		}
	}
	check("alice's 1st", "/limited", alice, http.StatusOK, "1")
	check("alice's 2nd", "/limited", alice, http.StatusOK, "0")
	check("/limited without x-user", "/limited", nil, http.StatusOK, "2")
	check("/other 1st", "/other", nil, http.StatusOK, "2")
	check("/other 2nd", "/other", nil, http.StatusOK, "1")

	write(5) // only /other's rule changes
	srv.waitStatus(t, "Envoy acked version 2", func(s serveStatus) bool { return s.Version == "2" && s.acked(node, "2") })
	check("alice after the push", "/limited", alice, http.StatusTooManyRequests, "0")
	check("/limited without x-user after the push", "/limited", nil, http.StatusOK, "1")
	check("/other after its limit changed", "/other", nil, http.StatusOK, "4")
}
