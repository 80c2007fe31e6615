// Command btp turns Gateway API + BackendTrafficPolicy YAML into an Envoy
// bootstrap or serves it to running Envoys over xDS, and validates, explains
// and reports status for that input.
//
// Each subcommand lives in its own file and registers itself from init(), so
// adding one never touches this file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one `btp` subcommand.
type command struct {
	name    string
	summary string // one line for `btp --help`
	usage   string // arguments after the name, for `btp NAME --help`
	help    string // more for `btp NAME --help` (optional)
	// args: the command takes positional arguments (files), read from fs.Args().
	args bool
	// setup declares the command's flags on fs and returns the function
	// that runs it once the flags are parsed.
	setup func(fs *flag.FlagSet) func(s *stdio) error
}

// stdio is the process's standard streams, injectable for tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = map[string]*command{}

// register adds c; called from each command file's init().
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("btp: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	os.Exit(run(os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// run executes one btp invocation and returns the exit code: 0 on success
// (and for --help), 1 on any error, always reported on stderr.
func run(args []string, s *stdio) int {
	if len(args) == 0 {
		usage(s.err)
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run([]string{args[1], "--help"}, s)
		}
		usage(s.out)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(s.err, "btp: unknown command %q: allowed %s\n", args[0], strings.Join(names(), ", "))
		return 1
	}
	fs := flag.NewFlagSet("btp "+c.name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	exec := c.setup(fs)
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: btp %s %s\n\n%s\n\n", c.name, c.usage, c.summary)
		if c.help != "" {
			fmt.Fprintf(w, "%s\n\n", c.help)
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "flags:\n")
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
	}
	fs.Usage = func() {} // printed below, to stdout for --help
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(s.out)
			return 0
		}
		usage(s.err) // flag already printed the error itself
		return 1
	}
	if fs.NArg() > 0 && !c.args {
		fmt.Fprintf(s.err, "btp %s: unexpected argument %q (inputs are given with -f)\n", c.name, fs.Arg(0))
		return 1
	}
	if err := exec(s); err != nil {
		fmt.Fprintf(s.err, "%v\n", err)
		return 1
	}
	return 0
}

func names() []string {
	n := make([]string, 0, len(commands))
	for k := range commands {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "btp: Envoy Gateway BackendTrafficPolicy for a plain Envoy\n\nusage: btp COMMAND [flags]\n\ncommands:\n")
	for _, n := range names() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\n`btp COMMAND --help` describes a command's flags.\n")
}
