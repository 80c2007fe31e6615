package main

import "flag"

func init() {
	register(&command{
		name:    "validate",
		summary: "check the input; print nothing and exit 0 when valid, else list every error and exit 1",
		usage:   "-f FILE_OR_DIR [-f ...]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			return func(s *stdio) error {
				_, err := in.load(s.in)
				return err
			}
		},
	})
}
