package compose

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	// Any types the snippet uses, registered for protojson.
	_ "github.com/cncf/xds/go/xds/type/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
)

// TestDocsSnippet: the hand-written envoy.yaml in docs/golang.md is a valid
// Envoy bootstrap, and the golang host accepts its btp configs.
func TestDocsSnippet(t *testing.T) {
	doc, err := os.ReadFile("../../docs/golang.md")
	if err != nil {
		t.Fatal(err)
	}
	var snippet string
	for _, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "envoy.filters.http.golang") {
			snippet = block
			break
		}
	}
	if snippet == "" {
		t.Fatal("docs/golang.md has no envoy.yaml snippet with the golang filter")
	}
	js, err := yaml.YAMLToJSON([]byte(snippet))
	if err != nil {
		t.Fatalf("snippet: %v", err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		t.Fatalf("snippet is not an Envoy bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("snippet: %v", err)
	}
	gc := collectGolangConfigs(t, &b)
	if len(gc.routes) != 1 {
		t.Fatalf("snippet: %d routes with btp config, want 1", len(gc.routes))
	}
	gc.loadInGolangHost(t)
}

// newConfigCallbacks is the stats side of api.ConfigCallbackHandler, enough
// for the parser to define its counters.
func newConfigCallbacks() api.ConfigCallbackHandler { return configCallbacks{} }

type configCallbacks struct{}

func (configCallbacks) DefineCounterMetric(string) api.CounterMetric { return &counter{} }
func (configCallbacks) DefineGaugeMetric(string) api.GaugeMetric     { return &counter{} }

type counter struct{ n atomic.Int64 }

func (c *counter) Increment(d int64) { c.n.Add(d) }
func (c *counter) Get() uint64       { return uint64(c.n.Load()) }
func (c *counter) Record(v uint64)   { c.n.Store(int64(v)) }
