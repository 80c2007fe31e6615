package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// egProxy renders Envoy Gateway e2e manifests (testdata/eg/NAME) with `btp
// render` over the conformance infrastructure they assume
// (testdata/eg/infra.yaml.tmpl), points infra-backend-v1's clusterIP at a
// loopback backend and starts Envoy. Documents of kinds envoy-btp does not
// read are left out, each named in the test log.
func egProxy(t *testing.T, manifests ...string) *harness.Proxy {
	t.Helper()
	bs := harness.StartBackends(t, "infra-backend-v1", 1)
	v := harness.NewVars(t, bs)
	v.Values = map[string]any{"allNamespacesPort": harness.FreePort(t)}
	docs := []string{harness.Execute(t, "testdata/eg/infra.yaml.tmpl", v)}
	for _, m := range manifests {
		b, err := os.ReadFile("testdata/eg/" + m)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Split(string(b), "\n---\n") {
			// A ClientTrafficPolicy configures the listener, which envoy-btp
			// leaves to the user.
			if strings.Contains(d, "\nkind: ClientTrafficPolicy\n") || strings.HasPrefix(d, "kind: ClientTrafficPolicy\n") {
				t.Logf("%s: left out a ClientTrafficPolicy (not part of envoy-btp)", m)
				continue
			}
			docs = append(docs, d)
		}
	}
	boot := harness.Render(t, strings.Join(docs, "\n---\n"), v.AdminPort)
	boot = harness.Loopback(t, boot, map[string]*harness.Backend{"10.96.0.11:8080": bs[0]})
	return &harness.Proxy{Envoy: harness.StartEnvoy(t, boot, v.AdminPort), Port: v.Port, Backends: bs, Bootstrap: boot}
}
