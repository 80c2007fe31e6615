package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/xds"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "serve the input to running Envoys over xDS (ADS), pushing every change of the files",
		usage:   "-f FILE_OR_DIR [-f ...] [--xds-addr 127.0.0.1:18000] [--status-addr 127.0.0.1:18001] [--host golang|dynamic-module] [render's flags]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			rf := renderFlag(fs, false)
			xdsAddr := fs.String("xds-addr", "127.0.0.1:18000", "ADS (gRPC) listen `ADDRESS`; Envoys started from `btp render --xds grpc://ADDRESS` connect here")
			statusAddr := fs.String("status-addr", "127.0.0.1:18001", "HTTP `ADDRESS` of GET /status (served version, refused edit, each Envoy's ACKs and NACKs, policy status); empty for none")
			return func(s *stdio) error {
				if len(in.files) == 0 {
					return errors.New("btp serve: no input: give -f FILE_OR_DIR")
				}
				for _, f := range in.files {
					if f == "-" {
						return errors.New("btp serve: -f -: stdin cannot be watched; give files or directories")
					}
				}
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return serve(ctx, s, in, rf, *xdsAddr, *statusAddr)
			}
		},
	})
}

// serve loads, pushes and watches until ctx ends.
func serve(ctx context.Context, s *stdio, in *inputs, rf *renderFlags, xdsAddr, statusAddr string) error {
	srv := xds.New(s.err)
	lis, err := net.Listen("tcp", xdsAddr)
	if err != nil {
		return fmt.Errorf("btp serve: --xds-addr: %w", err)
	}
	var status *http.Server
	if statusAddr != "" {
		sl, err := net.Listen("tcp", statusAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("btp serve: --status-addr: %w", err)
		}
		status = &http.Server{Handler: srv.StatusHandler()}
		go status.Serve(sl)
		defer status.Close()
	}
	// The first load before serving: an Envoy that connects at once gets
	// the files' config, not an empty one.
	reload(s, srv, in, rf)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ctx, lis) }()
	go func() { errc <- xds.Watch(ctx, in.files, xds.Debounce, func() { reload(s, srv, in, rf) }) }()
	fmt.Fprintf(s.err, "btp serve: ADS on %s, status on http://%s/status, watching %v\n", lis.Addr(), statusAddr, []string(in.files))
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("btp serve: %w", err)
		}
		return nil
	}
}

// reload reads, resolves and renders the inputs as `btp render` does and
// pushes the result; any error keeps the served snapshot.
func reload(s *stdio, srv *xds.Server, in *inputs, rf *renderFlags) {
	m, err := in.load(s)
	if err != nil {
		err = keepGoing(s, m, err, *rf.keep, nothingPushed)
	}
	if err != nil {
		if m != nil {
			srv.Refuse(err, m.Policies)
		} else {
			srv.Refuse(err, nil)
		}
		return
	}
	r, err := bootstrap.RenderAll(m, rf.options())
	if err == nil && *rf.rlsConfig != "" {
		// Before the push, as render writes it before the bootstrap.
		if werr := writeRateLimitConfigs(*rf.rlsConfig, r.RateLimit); werr != nil {
			err = fmt.Errorf("--ratelimit-config: %w", werr)
		}
	}
	var res *bootstrap.Resources
	if err == nil {
		res, err = r.Resources()
	}
	if err != nil {
		srv.Refuse(refusal(err, nothingPushed), m.Policies)
		return
	}
	for _, e := range r.Isolated {
		fmt.Fprintf(s.err, "warning: --keep-going: %v; the rule answers 500\n", e)
	}
	if _, _, err := srv.Push(res, m.Policies); err != nil {
		srv.Refuse(err, m.Policies)
	}
}
