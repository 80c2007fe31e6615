package bootstrap

import (
	"bytes"
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"go.yaml.in/yaml/v3"
)

// RateLimitConfig is one domain of the envoyproxy/ratelimit service's
// config (https://github.com/envoyproxy/ratelimit#the-configuration-format):
// the descriptor trees the routes' rate_limits actions send, with their limits.
type RateLimitConfig struct {
	Domain      string                 `json:"domain" yaml:"domain"`
	Descriptors []*RateLimitDescriptor `json:"descriptors" yaml:"descriptors"`
}

// RateLimitDescriptor is one node of a descriptor tree. An empty Value
// matches any value of Key (a Distinct selector: one counter per value).
type RateLimitDescriptor struct {
	Key         string                 `json:"key" yaml:"key"`
	Value       string                 `json:"value,omitempty" yaml:"value,omitempty"`
	RateLimit   *RateLimitPolicy       `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	ShadowMode  bool                   `json:"shadow_mode,omitempty" yaml:"shadow_mode,omitempty"`
	Descriptors []*RateLimitDescriptor `json:"descriptors,omitempty" yaml:"descriptors,omitempty"`
}

// RateLimitPolicy is the limit on a descriptor chain's last node.
type RateLimitPolicy struct {
	Unit            string `json:"unit" yaml:"unit"`
	RequestsPerUnit uint32 `json:"requests_per_unit" yaml:"requests_per_unit"`
}

// serviceUnits maps Envoy Gateway's units to the rate limit service's: the
// RLS v3 RateLimitResponse.RateLimit.Unit names, as Envoy Gateway writes them
// (the service reads them case-insensitively).
var serviceUnits = map[egv1a1.RateLimitUnit]string{
	egv1a1.RateLimitUnitSecond: "SECOND",
	egv1a1.RateLimitUnitMinute: "MINUTE",
	egv1a1.RateLimitUnitHour:   "HOUR",
	egv1a1.RateLimitUnitDay:    "DAY",
	egv1a1.RateLimitUnitWeek:   "WEEK",
	egv1a1.RateLimitUnitMonth:  "MONTH",
	egv1a1.RateLimitUnitYear:   "YEAR",
}

const allowedUnits = "allowed Second, Minute, Hour, Day, Week, Month, Year"

// serviceLimit is a global rule's limit as the service spells it, or nil
// (after recording the error) when the unit is missing or unknown.
func serviceLimit(c *ruleCtx, f string, l egv1a1.RateLimitValue) *RateLimitPolicy {
	if l.Unit == "" {
		c.fail(f+".unit", nil, "is required: "+allowedUnits)
		return nil
	}
	u, ok := serviceUnits[l.Unit]
	if !ok {
		c.fail(f+".unit", string(l.Unit), allowedUnits)
		return nil
	}
	return &RateLimitPolicy{Unit: u, RequestsPerUnit: l.Requests}
}

// addServiceDescriptor puts one rule's descriptor chain (the keys and values
// its actions send, in order) into the domain's tree and sets the limit on
// its last node. Routes that send the same chain share the node; a chain
// that arrives again with another limit is an error rather than a silent
// first-wins. Chains that begin alike share their nodes: Envoy Gateway
// appends each rule's chain whole instead, which differs only when two rules
// of one route send the same first entry after the route's (sourceCIDR rules
// on the same CIDR: masked_remote_address carries no rule index), and there
// its config has two sibling nodes with one key and value, which the service
// refuses to load ("duplicate descriptor composite key").
func (r *renderer) addServiceDescriptor(c *ruleCtx, f, domain string, steps []rlStep, limit *RateLimitPolicy, shadow bool) {
	if r.rateLimitConfigs == nil {
		r.rateLimitConfigs = map[string]*RateLimitConfig{}
	}
	cfg := r.rateLimitConfigs[domain]
	if cfg == nil {
		cfg = &RateLimitConfig{Domain: domain}
		r.rateLimitConfigs[domain] = cfg
		r.rateLimitDomains = append(r.rateLimitDomains, domain)
	}
	level := &cfg.Descriptors
	var node *RateLimitDescriptor
	for i, s := range steps {
		node = nil
		for _, d := range *level {
			if d.Key == s.key && d.Value == s.value {
				node = d
				break
			}
		}
		if node == nil {
			// Envoy Gateway marks every node of a shadow rule's chain below
			// the route's (the service reads it on the limited node only).
			node = &RateLimitDescriptor{Key: s.key, Value: s.value, ShadowMode: shadow && i > 0}
			*level = append(*level, node)
		}
		level = &node.Descriptors
	}
	if node == nil {
		return
	}
	if node.RateLimit != nil && (*node.RateLimit != *limit || node.ShadowMode != shadow) {
		c.failf(f+".limit", fmt.Sprintf("%d/%s", limit.RequestsPerUnit, limit.Unit),
			"conflicts with %d/%s (shadowMode %t) already set for the same descriptors in rate limit domain %q; give the rules different selectors or one limit",
			node.RateLimit.RequestsPerUnit, node.RateLimit.Unit, node.ShadowMode, domain)
		return
	}
	node.RateLimit, node.ShadowMode = limit, shadow
}

// RateLimitYAML renders cfgs as the rate limit service reads them: one YAML
// document per domain, fields in the order the service's README uses.
func RateLimitYAML(cfgs []*RateLimitConfig) ([]byte, error) {
	if len(cfgs) == 0 {
		return nil, nil // the encoder cannot close an empty stream
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, cfg := range cfgs {
		if err := enc.Encode(cfg); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
