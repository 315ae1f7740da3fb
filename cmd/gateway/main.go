// Command gateway runs the Webtrunk SIP-to-WebRTC gateway.
//
// Usage:
//
//	gateway -config FILE          run the gateway
//	gateway -check -config FILE   validate FILE and exit
//	gateway -version              print the release, commit, Go and libopus versions
//	gateway -healthcheck URL      exit 0 when URL (e.g. /readyz) answers 200 OK
//	gateway -config FILE -pprof 127.0.0.1:6060
//	                              also serve Go profiles (net/http/pprof) on
//	                              that address, at /debug/pprof/; for
//	                              measurements only: bind it to loopback
//
// SIGHUP reloads the configuration file (README, "Operators": users, dial
// rules, routes, limits and trunks apply to new calls; an invalid file
// changes nothing and its problems are logged) and reopens the call
// record file (cdr.file), for logrotate.
//
// Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM) or a valid
// configuration with -check; 1 when the gateway fails while running;
// 2 for a usage error or an invalid configuration, with every problem printed
// to standard error, one per line, each with its field path and line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process globals, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML configuration `file` (required)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	pprofAddr := fs.String("pprof", "", "serve Go profiles (net/http/pprof) on this `address` (host:port; loopback only, for measurements)")
	memRate := fs.Int("memprofilerate", 0, "record one heap profile sample per this many allocated `bytes` (runtime.MemProfileRate; 0: Go's default of 512 KiB)")
	showVersion := fs.Bool("version", false, "print the release, commit, Go and libopus versions and exit")
	probe := fs.String("healthcheck", "", "GET this `URL` (e.g. http://127.0.0.1:8080/readyz) and exit 0 when it answers 200 OK, else 1")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}

		return 2
	}
	if *showVersion {
		printVersion(stdout)

		return 0
	}
	if *probe != "" {
		return healthcheck(ctx, *probe, stderr)
	}
	if *memRate < 0 {
		fmt.Fprintln(stderr, "gateway: -memprofilerate must not be negative")

		return 2
	}
	if *memRate > 0 {
		// Before the configuration is loaded, so that every call's
		// allocations are sampled at this rate.
		runtime.MemProfileRate = *memRate
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gateway [-check] -config FILE")

		return 2
	}

	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)

		return 2
	}
	if *check {
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(stderr, "%s: warning: %s\n", *configPath, w)
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *configPath)

		return 0
	}

	logger := newLogger(cfg.Log, stderr)
	redis.SetLogger(redisLogger{logger.With("component", "redis")})
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration", "warning", w)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A second signal after the first one kills the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()

	gw, err := gateway.New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		logger.Error("gateway set-up failed", "error", err)

		return 1
	}
	if *pprofAddr != "" {
		ps, err := listenPprof(*pprofAddr)
		if err != nil {
			logger.Error("gateway set-up failed", "error", err)

			return 1
		}
		pctx, stopPprof := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			ps.serve(pctx, logger)
		}()
		defer func() {
			stopPprof()
			<-done
		}()
	}
	gw.SetConfigFile(*configPath)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading the configuration and reopening the call record file", "file", *configPath)
				gw.ReopenRecords()
				// ReloadFile logs and counts the outcome itself.
				_, _ = gw.ReloadFile()
			}
		}
	}()
	if err := gw.Run(ctx); err != nil {
		logger.Error("gateway failed", "error", err)

		return 1
	}

	return 0
}

// newLogger builds the process logger from the log settings: level and
// text or JSON output on w.
func newLogger(lc config.LogConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lc.SlogLevel()}
	var h slog.Handler
	if lc.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	logger := slog.New(h)
	slog.SetDefault(logger)

	return logger
}
