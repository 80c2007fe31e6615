package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	dynmodfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/config"
	"github.com/envoy-btp/envoy-btp/filter"
)

func init() {
	register(&command{
		name: "check",
		summary: "check every btp filter config in hand-written Envoy bootstraps (or LDS/RDS files) through each host's own parser; " +
			"list every error and exit 1, else print a one-line summary",
		usage: "ENVOY_YAML [MORE_YAML ...]",
		help: "Each file is an Envoy bootstrap or an LDS/RDS discovery response (YAML or JSON). Checked: the golang filter's\n" +
			"plugin_config (plugin_name btp) and the dynamic module's filter_config (filter_name btp), and their per-route configs\n" +
			"in typed_per_filter_config of virtual hosts, routes and weighted clusters. Errors name the file, listener, virtual\n" +
			"host, route, the field path in the file and in the btp config, and what the refusal does in that host.",
		args: true,
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			return func(s *stdio) error {
				if fs.NArg() == 0 {
					return errors.New("btp check: no input: give the Envoy bootstrap file(s) to check")
				}
				var c checker
				for _, name := range fs.Args() {
					data, err := os.ReadFile(name)
					if err != nil {
						return fmt.Errorf("btp check: %w", err)
					}
					c.file(name, data)
				}
				for _, e := range c.errs {
					fmt.Fprintln(s.err, e)
				}
				switch {
				case len(c.errs) > 0:
					return fmt.Errorf("btp check: %d of %d btp configs refused", c.refused, c.checked)
				case c.checked == 0:
					return fmt.Errorf("btp check: no btp filter config found (a %s filter with plugin_name %q, or a %s filter with filter_name %q)",
						bootstrap.GolangFilterName, bootstrap.GolangPluginName, bootstrap.DynamicModuleFilterName, bootstrap.DynamicModuleFilter)
				}
				fmt.Fprintln(s.out, c.summary())
				return nil
			}
		},
	})
}

// Hosts, as the summary and the errors name them.
const (
	hostGolang = "golang"
	hostModule = "dynamic-module"
)

const (
	typeHCM             = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	typeListener        = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRouteConfig     = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeRouteFilterConf = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
)

var protoPos = regexp.MustCompile(`\(line \d+:\d+\): `)

var (
	typeGolang         = "type.googleapis.com/" + string(proto.MessageName(&golangv3alpha.Config{}))
	typeGolangRoute    = "type.googleapis.com/" + string(proto.MessageName(&golangv3alpha.ConfigsPerRoute{}))
	typeModuleFilter   = "type.googleapis.com/" + string(proto.MessageName(&dynmodfilterv3.DynamicModuleFilter{}))
	typeModuleRouteCfg = "type.googleapis.com/" + string(proto.MessageName(&dynmodfilterv3.DynamicModuleFilterPerRoute{}))
)

// checker walks bootstraps (and LDS/RDS discovery responses) as generic
// YAML, so a hand-written file may hold any other Envoy extension, and
// decodes only the btp filters' own wrappers and configs. Each btp config
// goes through the parser its host runs on it:
//   - golang: filter.ParseAny on the Any, as plugin/golang/adapter's Parse
//     (Envoy hands the golang filter the Any as it is);
//   - dynamic module: Envoy's unwrapping (config.ModuleBytes), then
//     config.LoadBytes, as plugin/dynmod/adapter's parse.
type checker struct {
	errs             []string
	checked, refused int
	routes           map[string]bool // file/listener/virtual host/route holding a route-level config
	hosts            map[string]bool
}

// site is where a btp config sits, for errors: file, listener, virtual
// host and route names, and the field path within the file.
type site struct {
	file, listener, vhost, route string
	path                         string
}

func (s site) at(path string) site { s.path += path; return s }

func (s site) String() string {
	var b strings.Builder
	b.WriteString(s.file)
	if s.listener != "" {
		fmt.Fprintf(&b, ": listener %q", s.listener)
	}
	if s.vhost != "" {
		fmt.Fprintf(&b, ": virtual host %q", s.vhost)
	}
	if s.route != "" {
		fmt.Fprintf(&b, ": route %s", s.route)
	}
	return b.String()
}

func (c *checker) fail(s site, format string, args ...any) {
	c.errs = append(c.errs, s.String()+" ("+s.path+"): "+fmt.Sprintf(format, args...))
}

// file checks one bootstrap or discovery response (YAML or JSON).
func (c *checker) file(name string, data []byte) {
	s := site{file: name}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		c.errs = append(c.errs, name+": not YAML or JSON: "+err.Error())
		return
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // numbers go back to protojson as written
	var root map[string]any
	if err := dec.Decode(&root); err != nil || root == nil {
		c.errs = append(c.errs, name+": not an Envoy bootstrap or discovery response (a YAML/JSON object)")
		return
	}
	res, isDiscovery := root["resources"].([]any)
	if !isDiscovery {
		sr, _ := root["static_resources"].(map[string]any)
		for i, l := range objects(sr, "listeners") {
			c.listener(l, s.at("static_resources.listeners["+strconv.Itoa(i)+"]"))
		}
		return
	}
	for i, r := range res {
		r, _ := r.(map[string]any)
		p := s.at("resources[" + strconv.Itoa(i) + "]")
		switch r["@type"] {
		case typeListener:
			c.listener(r, p)
		case typeRouteConfig:
			c.routeConfig(r, p)
		}
	}
}

func (c *checker) listener(l map[string]any, s site) {
	s.listener = str(l, "name")
	chains := objects(l, "filter_chains")
	paths := make([]string, len(chains))
	for i := range chains {
		paths[i] = ".filter_chains[" + strconv.Itoa(i) + "]"
	}
	if d, ok := l["default_filter_chain"].(map[string]any); ok {
		chains, paths = append(chains, d), append(paths, ".default_filter_chain")
	}
	for i, fc := range chains {
		for j, f := range objects(fc, "filters") {
			if tc, _ := f["typed_config"].(map[string]any); tc["@type"] == typeHCM {
				c.hcm(tc, s.at(paths[i]+".filters["+strconv.Itoa(j)+"].typed_config"))
			}
		}
	}
}

func (c *checker) hcm(h map[string]any, s site) {
	for i, f := range objects(h, "http_filters") {
		tc, _ := f["typed_config"].(map[string]any)
		p := s.at(".http_filters[" + strconv.Itoa(i) + "].typed_config")
		switch tc["@type"] {
		case typeGolang:
			var g golangv3alpha.Config
			if c.decode(tc, &g, p) && g.GetPluginName() == bootstrap.GolangPluginName {
				c.golang(g.GetPluginConfig(), p.at(".plugin_config"))
			}
		case typeModuleFilter:
			var m dynmodfilterv3.DynamicModuleFilter
			if c.decode(tc, &m, p) && m.GetFilterName() == bootstrap.DynamicModuleFilter {
				c.module(m.GetFilterConfig(), p.at(".filter_config"))
			}
		}
	}
	if rc, ok := h["route_config"].(map[string]any); ok {
		c.routeConfig(rc, s.at(".route_config"))
	}
}

func (c *checker) routeConfig(rc map[string]any, s site) {
	for i, vh := range objects(rc, "virtual_hosts") {
		v := s.at(".virtual_hosts[" + strconv.Itoa(i) + "]")
		v.vhost = str(vh, "name")
		c.perFilter(vh, v)
		for j, r := range objects(vh, "routes") {
			rs := v.at(".routes[" + strconv.Itoa(j) + "]")
			rs.route = strconv.Quote(str(r, "name"))
			if str(r, "name") == "" {
				rs.route = "#" + strconv.Itoa(j)
			}
			if c.perFilter(r, rs) {
				c.route(rs)
			}
			action, _ := r["route"].(map[string]any)
			wc, _ := action["weighted_clusters"].(map[string]any)
			for k, cl := range objects(wc, "clusters") {
				if c.perFilter(cl, rs.at(".route.weighted_clusters.clusters["+strconv.Itoa(k)+"]")) {
					c.route(rs)
				}
			}
		}
	}
}

func (c *checker) route(s site) {
	if c.routes == nil {
		c.routes = map[string]bool{}
	}
	c.routes[s.file+"\x00"+s.listener+"\x00"+s.path[:strings.LastIndex(s.path, ".routes[")]+"\x00"+s.route] = true
}

// perFilter checks the btp configs in m's typed_per_filter_config and
// reports whether there was one.
func (c *checker) perFilter(m map[string]any, s site) bool {
	tpfc, _ := m["typed_per_filter_config"].(map[string]any)
	keys := make([]string, 0, len(tpfc))
	for k := range tpfc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	found := false
	for _, k := range keys {
		v, _ := tpfc[k].(map[string]any)
		p := s.at(".typed_per_filter_config[" + strconv.Quote(k) + "]")
		if v["@type"] == typeRouteFilterConf { // the optional/disabled wrapper
			if d, _ := v["disabled"].(bool); d {
				continue
			}
			v, _ = v["config"].(map[string]any)
			p = p.at(".config")
		}
		switch v["@type"] {
		case typeGolangRoute:
			var g golangv3alpha.ConfigsPerRoute
			if !c.decode(v, &g, p) {
				found = true
				continue
			}
			if rp, ok := g.GetPluginsConfig()[bootstrap.GolangPluginName]; ok && rp.GetConfig() != nil {
				found = true
				c.golang(rp.GetConfig(), p.at(".plugins_config."+bootstrap.GolangPluginName+".config"))
			}
		case typeModuleRouteCfg:
			var d dynmodfilterv3.DynamicModuleFilterPerRoute
			if !c.decode(v, &d, p) {
				found = true
				continue
			}
			if d.GetPerRouteConfigName() == bootstrap.DynamicModuleFilter {
				found = true
				c.module(d.GetFilterConfig(), p.at(".filter_config"))
			}
		}
	}
	return found
}

// decode reads one of the btp filters' wrappers (with its btp config Any)
// from the generic tree; Envoy refuses one it cannot read, and so do we.
func (c *checker) decode(v map[string]any, m proto.Message, s site) bool {
	var a anypb.Any
	js, err := json.Marshal(v)
	if err == nil {
		err = protojson.Unmarshal(js, &a)
	}
	if err == nil {
		err = a.UnmarshalTo(m)
	}
	if err != nil {
		c.checked++
		c.refused++
		// protojson's positions are in the re-encoded JSON, not the file;
		// and it puts a non-breaking space in its errors at random.
		msg := protoPos.ReplaceAllString(strings.ReplaceAll(err.Error(), "\u00a0", " "), "")
		c.fail(s, "not a valid %s (Envoy refuses it too): %s", proto.MessageName(m), msg)
		return false
	}
	return true
}

// golang runs a config through the golang host's parser.
func (c *checker) golang(a *anypb.Any, s site) {
	_, err := filter.ParseAny(a, filter.Options{})
	// plugin/golang/adapter/invalid.go: a route's refused config does not
	// stop Envoy; its requests are answered 500.
	then := "Envoy refuses the listener"
	switch {
	case s.route != "":
		then = "the route answers every request with 500"
	case s.vhost != "":
		then = "every route of the virtual host answers 500"
	}
	c.result(hostGolang, then, err, s)
}

// module runs a config through the dynamic-module host's parser, on the
// bytes Envoy would hand it.
func (c *checker) module(a *anypb.Any, s site) {
	raw, err := config.ModuleBytes(a)
	if err == nil {
		_, err = config.LoadBytes(raw)
	}
	c.result(hostModule, "Envoy refuses the config", err, s)
}

// result counts one config; then is what a refusal does in that host.
func (c *checker) result(host, then string, err error, s site) {
	c.checked++
	if c.hosts == nil {
		c.hosts = map[string]bool{}
	}
	c.hosts[host] = true
	if err != nil {
		c.refused++
		c.fail(s, "%s host refuses its btp config (%s): %v", host, then, err)
	}
}

func (c *checker) summary() string {
	hosts := "both hosts"
	switch {
	case !c.hosts[hostGolang]:
		hosts = hostModule + " host"
	case !c.hosts[hostModule]:
		hosts = hostGolang + " host"
	}
	return fmt.Sprintf("%d configs checked: %d routes, %s", c.checked, len(c.routes), hosts)
}

func objects(m map[string]any, key string) []map[string]any {
	l, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, v := range l {
		if v, ok := v.(map[string]any); ok {
			out = append(out, v)
		}
	}
	return out
}

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}
