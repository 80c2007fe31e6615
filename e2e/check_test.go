package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// envoyRefusal is the dynamic-module host's error in Envoy's log.
var envoyRefusal = regexp.MustCompile(`Failed to load (?:per-route )?configuration: btp (?:per-route|filter) config: (.*)`)

// TestCheckAgreesWithEnvoy: `btp check` reproduces in Go what Envoy does
// with a dynamic module's config Any before the module parses it
// (config.ModuleBytes), so for each Any form its verdict on a bootstrap
// must be Envoy's: accepted ones load and enforce the config, refused ones
// make Envoy refuse the bootstrap, with the same field path in both.
func TestCheckAgreesWithEnvoy(t *testing.T) {
	be := harness.StartBackends(t, "be", 1)
	btp := harness.BtpBinary(t)
	const good = `{"faultInjection": {"abort": {"httpStatus": 418}}}`
	const bad = `{"faultInjection": {"abort": {"httpStatus": 99}}}`
	forms := map[string]func(js, yamlFlow string) string{
		"StringValue": func(js, _ string) string {
			return `{"@type": type.googleapis.com/google.protobuf.StringValue, value: '` + js + `'}`
		},
		"BytesValue": func(js, _ string) string {
			return `{"@type": type.googleapis.com/google.protobuf.BytesValue, value: ` + base64.StdEncoding.EncodeToString([]byte(js)) + `}`
		},
		"Struct": func(_, y string) string {
			return `{"@type": type.googleapis.com/google.protobuf.Struct, value: ` + y + `}`
		},
		"xds TypedStruct": func(_, y string) string {
			return `{"@type": type.googleapis.com/xds.type.v3.TypedStruct, value: ` + y + `}`
		},
		"udpa TypedStruct": func(_, y string) string {
			return `{"@type": type.googleapis.com/udpa.type.v1.TypedStruct, value: ` + y + `}`
		},
	}
	for name, form := range forms {
		for _, c := range []struct {
			verdict, js string
		}{{"good", good}, {"bad", bad}} {
			t.Run(name+"/"+c.verdict, func(t *testing.T) {
				v := harness.NewVars(t, be)
				v.Values = map[string]any{
					"Case":         name + " " + c.verdict,
					"FilterConfig": form(`{}`, `{}`),
					"RouteConfig":  form(c.js, c.js),
				}
				boot := harness.Execute(t, "testdata/check.bootstrap.yaml", v)
				for cl, as := range harness.ClusterAddrs(t, boot) {
					for _, a := range as {
						if !strings.HasPrefix(a, "127.") {
							t.Fatalf("cluster %s: address %s is outside loopback", cl, a)
						}
					}
				}
				f := filepath.Join(t.TempDir(), "envoy.yaml")
				if err := os.WriteFile(f, []byte(boot), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(btp, "check", f).CombinedOutput()
				checkOK := err == nil
				if checkOK {
					e := harness.StartEnvoy(t, boot, v.AdminPort)
					defer e.Stop()
					p := &harness.Proxy{Envoy: e, Port: v.Port, Backends: be}
					if code, _, _ := harness.Get(t, p.URL("/"), nil); code != 418 {
						t.Fatalf("btp check accepted it (%s) and Envoy loaded it, but the route answers %d, not the config's 418", out, code)
					}
					return
				}
				log := harness.RunEnvoyExpectExit(t, boot) // fails the test if Envoy accepts it
				// Envoy stops at its first refusal; btp check names every one,
				// so it must hold Envoy's message word for word.
				m := envoyRefusal.FindStringSubmatch(log)
				if m == nil {
					t.Fatalf("btp check refused it:\n%s\nEnvoy refused it too, but without a btp error:\n%s", out, log)
				}
				if !strings.Contains(string(out), "refuses its btp config (Envoy refuses the config): "+m[1]+"\n") {
					t.Errorf("Envoy refused it with %q; btp check said:\n%s", m[1], out)
				}
				if c.verdict == "good" {
					t.Errorf("a good config in a %s refused by both", name)
				}
			})
		}
	}
}
