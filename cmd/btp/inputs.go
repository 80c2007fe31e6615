package main

import (
	"flag"
	"io"

	"github.com/envoy-btp/envoy-btp/policy"
)

// inputs is the repeatable -f flag shared by every command that reads
// resources: files, directories, or "-" for stdin.
type inputs []string

func (f *inputs) String() string { return "" }

func (f *inputs) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// inputFlag declares -f on fs.
func inputFlag(fs *flag.FlagSet) *inputs {
	f := &inputs{}
	fs.Var(f, "f", "input `FILE`, DIRECTORY (its *.yaml/*.yml/*.json files) or - for stdin; repeatable")
	return f
}

// load reads and resolves the inputs. The model is non-nil whenever the
// input could be read, even when err (a policy.ErrorList) is not nil.
func (f *inputs) load(stdin io.Reader) (*policy.Model, error) {
	return policy.Load(*f, stdin)
}
