package bootstrap

import (
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	brotliv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/brotli/compressor/v3"
	gzipv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/gzip/compressor/v3"
	zstdv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/compression/zstd/compressor/v3"
	compressorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/compressor/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
)

// compressionRoute renders spec.compression the way Envoy Gateway does: one
// compressor filter per algorithm in the listener's chain, disabled by
// default and enabled on this route by its per-route config. A
// minContentLength is filter-wide in Envoy, so each distinct value gets its
// own filter instead of overriding another route's.
//
// spec.compressor, Envoy Gateway's successor of the deprecated compression
// (same type), wins when set; an entry without its type's settings block
// is turned off, as in Envoy Gateway.
func compressionRoute(c *ruleCtx) {
	list, field := c.spec.Compression, "spec.compression"
	if len(c.spec.Compressor) > 0 {
		list, field = c.spec.Compressor, "spec.compressor"
	}
	if len(list) == 0 {
		return
	}
	compressed := false
	for i, comp := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		var lib proto.Message
		var libName string
		var settings bool
		switch comp.Type {
		case egv1a1.GzipCompressorType:
			lib, libName, settings = &gzipv3.Gzip{}, "envoy.compression.gzip.compressor", comp.Gzip != nil
		case egv1a1.BrotliCompressorType:
			lib, libName, settings = &brotliv3.Brotli{}, "envoy.compression.brotli.compressor", comp.Brotli != nil
		case egv1a1.ZstdCompressorType:
			lib, libName, settings = &zstdv3.Zstd{}, "envoy.compression.zstd.compressor", comp.Zstd != nil
		default:
			c.fail(f+".type", string(comp.Type), "allowed Gzip, Brotli, Zstd")
			continue
		}
		if field == "spec.compressor" && !settings {
			// Envoy Gateway's way to turn a compressor off: an entry
			// whose settings block is null (a JSONMerge child writes
			// gzip: null over its parent's gzip: {}) compresses nothing
			// (buildCompression; cases backendtrafficpolicy-compressor-
			// basic.disable, -json-merge-disable-all).
			continue
		}
		name := "envoy.filters.http.compressor." + strings.ToLower(string(comp.Type))
		cfg := &compressorv3.Compressor{CompressorLibrary: &corev3.TypedExtensionConfig{Name: libName, TypedConfig: mustAny(lib)}}
		if comp.MinContentLength != nil {
			n, ok := c.bytes(f+".minContentLength", comp.MinContentLength)
			if !ok {
				continue
			}
			if n < 30 {
				c.fail(f+".minContentLength", comp.MinContentLength.String(), "allowed 30 bytes or more (Envoy's minimum)")
				continue
			}
			name = fmt.Sprintf("%s/min-content-length/%d", name, n)
			cfg.ResponseDirectionConfig = &compressorv3.Compressor_ResponseDirectionConfig{
				CommonConfig: &compressorv3.Compressor_CommonDirectionConfig{MinContentLength: u32(n)},
			}
		}
		if _, seen := c.route.GetTypedPerFilterConfig()[name]; seen {
			c.fail(f+".type", string(comp.Type), "is listed twice")
			continue
		}
		c.port.compressors[name] = &hcmv3.HttpFilter{
			Name:       name,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)},
			Disabled:   true,
		}
		compressed = true
		c.perFilter(name, mustAny(&compressorv3.CompressorPerRoute{Override: &compressorv3.CompressorPerRoute_Overrides{
			Overrides: &compressorv3.CompressorOverrides{ResponseDirectionConfig: &compressorv3.ResponseDirectionOverrides{}},
		}}))
	}
	if !compressed {
		return // every entry turned off: Envoy Gateway renders nothing
	}
	// The backend must not compress what the filter compresses again.
	c.route.RequestHeadersToRemove = append(c.route.RequestHeadersToRemove, "accept-encoding")
}

// compressorFilters returns the listener's compressor filters in name order.
func compressorFilters(m map[string]*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*hcmv3.HttpFilter, len(names))
	for i, n := range names {
		out[i] = m[n]
	}
	return out
}
