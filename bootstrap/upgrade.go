package bootstrap

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// upgradeRoute renders spec.httpUpgrade as the route's upgrade_configs.
// Unset means websocket, as in Envoy Gateway, except with requestBuffer:
// buffering a whole body cannot work on an upgraded stream, so none.
func upgradeRoute(c *ruleCtx) {
	if len(c.spec.HTTPUpgrade) == 0 {
		if c.spec.RequestBuffer == nil {
			c.action.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket"}}
		}
		return
	}
	if c.spec.RequestBuffer != nil {
		c.fail("spec.httpUpgrade", nil, "cannot be used together with requestBuffer")
		return
	}
	seen := map[string]bool{}
	for i, u := range c.spec.HTTPUpgrade {
		f := fmt.Sprintf("spec.httpUpgrade[%d]", i)
		if u.Type == "" {
			c.fail(f+".type", nil, "is required, e.g. websocket, CONNECT, spdy/3.1")
			continue
		}
		key := strings.ToLower(u.Type)
		if seen[key] {
			c.fail(f+".type", u.Type, "is listed twice")
			continue
		}
		seen[key] = true
		cfg := &routev3.RouteAction_UpgradeConfig{UpgradeType: u.Type}
		if u.Connect != nil {
			if !strings.EqualFold(u.Type, "CONNECT") {
				c.fail(f+".connect", nil, "allowed only with type CONNECT")
				continue
			}
			if u.Connect.Terminate != nil && *u.Connect.Terminate {
				cfg.ConnectConfig = &routev3.RouteAction_UpgradeConfig_ConnectConfig{}
			}
		}
		if strings.EqualFold(u.Type, "CONNECT") {
			// CONNECT requests carry no path; Envoy matches them apart.
			c.connect = true
		}
		c.action.UpgradeConfigs = append(c.action.UpgradeConfigs, cfg)
	}
}
