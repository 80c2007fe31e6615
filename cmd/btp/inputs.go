package main

import (
	"flag"
	"fmt"

	"github.com/envoy-btp/envoy-btp/policy"
)

// inputs holds the flags shared by every command that reads resources: the
// repeatable -f (files, directories, or "-" for stdin), --gateway-class and
// --strict.
type inputs struct {
	files   list
	classes list
	strict  bool
}

// inputFlag declares -f, --gateway-class and --strict on fs.
func inputFlag(fs *flag.FlagSet) *inputs {
	f := &inputs{}
	fs.Var(&f.files, "f", "input `FILE`, DIRECTORY (its *.yaml/*.yml/*.json files) or - for stdin; repeatable")
	fs.Var(&f.classes, "gateway-class", "handle the Gateways of this gatewayClassName `NAME`; repeatable. Default: every GatewayClass of the input whose\n"+
		"controllerName is "+policy.ControllerName+" (every Gateway when the input holds no GatewayClass);\n"+
		"other Gateways are skipped with a warning, as Envoy Gateway would ignore them")
	fs.BoolVar(&f.strict, "strict", false, "make a kind btp does not read (Secret, SecurityPolicy, Deployment, ...) an error instead of a warning")
	return f
}

// load reads and resolves the inputs, printing the warnings (kinds skipped,
// Gateways of other classes) to s.err. The model is non-nil whenever the
// input could be read, even when err (a policy.ErrorList) is not nil.
func (f *inputs) load(s *stdio) (*policy.Model, error) {
	m, err := policy.Options{GatewayClasses: f.classes, Strict: f.strict}.Load(f.files, s.in)
	if m != nil {
		for _, w := range m.Warnings {
			fmt.Fprintf(s.err, "warning: %v\n", w)
		}
	}
	return m, err
}
