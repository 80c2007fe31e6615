package e2e

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Backend indexes in testdata/cluster.yaml.tmpl.
const (
	beRetry         = 0
	beTimeout       = 1
	beBreaker       = 2
	beHealth        = 3 // 3, 4, 5
	beOutlier       = 6 // 6, 7, 8
	beRoundRobin    = 9 // 9, 10, 11
	beLeastRequest  = 12
	beHash          = 15
	beFeatures      = 18
	bePerTry        = 19
	clusterBackends = 20
)

// clusterProxy renders testdata/cluster.yaml.tmpl with `btp render --host
// dynamic-module` over 18 loopback backends and starts Envoy on it.
// setup, if not nil, prepares the backends before Envoy starts.
func clusterProxy(t *testing.T, setup func([]*harness.Backend), envoyArgs ...string) *harness.Proxy {
	t.Helper()
	bs := harness.StartBackends(t, "be", clusterBackends)
	if setup != nil {
		setup(bs)
	}
	return harness.Up(t, "testdata/cluster.yaml.tmpl", bs, envoyArgs...)
}

// clusterStat is a stat of the cluster rendered for HTTPRoute name's rule 0.
func clusterStat(route, stat string) string {
	return "cluster.httproute/default/" + route + "/rule/0." + stat
}
