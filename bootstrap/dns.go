package bootstrap

import (
	"time"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	dnscommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsclusterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// defaultDNSCluster is Envoy Gateway's DNS resolution: refresh every 30s,
// respect record TTLs, prefer IPv4.
func defaultDNSCluster() *dnsclusterv3.DnsCluster {
	return &dnsclusterv3.DnsCluster{
		DnsRefreshRate:  durationpb.New(defaultDNSRefreshRate),
		RespectDnsTtl:   true,
		DnsLookupFamily: dnscommonv3.DnsLookupFamily_V4_PREFERRED,
	}
}

// dnsCluster renders spec.dns into the DNS cluster settings used by every
// backend of the rule that has hostname endpoints (Service without a
// clusterIP, Backend fqdn). Backends with only IP endpoints resolve nothing.
func dnsCluster(c *ruleCtx, t *clusterTemplate) {
	d := c.spec.DNS
	if d == nil {
		return
	}
	const f = "spec.dns"
	dc := defaultDNSCluster()
	if d.DNSRefreshRate != nil {
		if v, ok := c.duration(f+".dnsRefreshRate", d.DNSRefreshRate); ok {
			if v.AsDuration() < time.Millisecond {
				c.fail(f+".dnsRefreshRate", string(*d.DNSRefreshRate), "allowed 1ms or more")
			}
			dc.DnsRefreshRate = v
		}
	}
	if d.RespectDNSTTL != nil {
		dc.RespectDnsTtl = *d.RespectDNSTTL
	}
	if d.LookupFamily != nil {
		switch *d.LookupFamily {
		case egv1a1.IPv4DNSLookupFamily:
			dc.DnsLookupFamily = dnscommonv3.DnsLookupFamily_V4_ONLY
		case egv1a1.IPv6DNSLookupFamily:
			dc.DnsLookupFamily = dnscommonv3.DnsLookupFamily_V6_ONLY
		case egv1a1.IPv4PreferredDNSLookupFamily:
			dc.DnsLookupFamily = dnscommonv3.DnsLookupFamily_V4_PREFERRED
		case egv1a1.IPv6PreferredDNSLookupFamily:
			dc.DnsLookupFamily = dnscommonv3.DnsLookupFamily_AUTO
		case egv1a1.IPv4AndIPv6DNSLookupFamily:
			dc.DnsLookupFamily = dnscommonv3.DnsLookupFamily_ALL
		default:
			c.fail(f+".lookupFamily", string(*d.LookupFamily), "allowed IPv4, IPv6, IPv4Preferred, IPv6Preferred, IPv4AndIPv6")
		}
	}
	t.dns = dc
}
