package bootstrap

import (
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// timeoutCluster renders spec.timeout.tcp.connectTimeout (connect_timeout)
// and the connection-level HTTP timeouts (HTTP protocol options).
func timeoutCluster(c *ruleCtx, t *clusterTemplate) {
	to := c.spec.Timeout
	if to == nil {
		return
	}
	if to.TCP != nil && to.TCP.ConnectTimeout != nil {
		if d, ok := c.duration("spec.timeout.tcp.connectTimeout", to.TCP.ConnectTimeout); ok {
			if d.AsDuration() <= 0 {
				c.fail("spec.timeout.tcp.connectTimeout", string(*to.TCP.ConnectTimeout), "allowed a positive duration")
			}
			t.cluster.ConnectTimeout = d
		}
	}
	if h := to.HTTP; h != nil {
		if h.ConnectionIdleTimeout != nil {
			if d, ok := c.duration("spec.timeout.http.connectionIdleTimeout", h.ConnectionIdleTimeout); ok {
				t.common().IdleTimeout = d
			}
		}
		if h.MaxConnectionDuration != nil {
			if d, ok := c.duration("spec.timeout.http.maxConnectionDuration", h.MaxConnectionDuration); ok {
				t.common().MaxConnectionDuration = d
			}
		}
	}
}

// timeoutRoute renders the per-request HTTP timeouts on the route, the way
// Envoy Gateway does: the HTTPRoute rule's timeouts.request wins over the
// policy's requestTimeout, and without a streamIdleTimeout the route's idle
// timeout is raised to the request timeout so it never fires first.
func timeoutRoute(c *ruleCtx) {
	var request *durationpb.Duration
	if c.spec.Timeout != nil && c.spec.Timeout.HTTP != nil {
		h := c.spec.Timeout.HTTP
		if h.RequestTimeout != nil {
			request, _ = c.duration("spec.timeout.http.requestTimeout", h.RequestTimeout)
		}
		if h.MaxStreamDuration != nil {
			if d, ok := c.duration("spec.timeout.http.maxStreamDuration", h.MaxStreamDuration); ok {
				c.action.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: d}
			}
		}
		c.setDuration("spec.timeout.http.streamIdleTimeout", h.StreamIdleTimeout, &c.action.IdleTimeout)
	}
	if rt := c.rule.Spec.Timeouts; rt != nil {
		if rt.Request != nil {
			if d, ok := c.duration("HTTPRoute spec.rules[].timeouts.request", rt.Request); ok {
				request = d
			}
		}
		// Without a rule retry (which btp refuses), Envoy Gateway makes
		// backendRequest the route timeout, over timeouts.request.
		if rt.BackendRequest != nil {
			if d, ok := c.duration("HTTPRoute spec.rules[].timeouts.backendRequest", rt.BackendRequest); ok {
				request = d
			}
		}
	}
	if request == nil {
		return
	}
	c.action.Timeout = request
	if c.action.IdleTimeout == nil {
		idle := time.Hour
		if r := request.AsDuration(); r == 0 {
			idle = 0
		} else if r > idle {
			idle = r
		}
		c.action.IdleTimeout = durationpb.New(idle)
	}
}
