// Package gateway is Webtrunk's call control: it serves the browser side
// (WebSocket signaling, WebRTC), drives the trunk side through package sip,
// bridges the media of each call through package transcode, and exposes
// health, readiness and Prometheus metrics over HTTP.
//
// A Gateway is built in phases: New validates and allocates without side
// effects, Listen binds every socket (so a port in use is reported before
// anything runs), and Run serves until its context is cancelled, then drains
// within the configured grace period and returns once every goroutine it
// started has ended.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/config"
)

// ErrClosed is returned by Listen and Run on a gateway that has already run.
var ErrClosed = errors.New("gateway: closed")

// Gateway is one Webtrunk process's worth of call control. Create it with New.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	httpLn   net.Listener
	started  bool
	draining atomic.Bool
	ready    atomic.Bool

	httpServer *http.Server
}

// New checks cfg and prepares a gateway. It binds no socket and starts no
// goroutine. cfg must have been loaded with config.Load (defaults applied and
// validated); logger may be nil to discard logs.
func New(cfg *config.Config, logger *slog.Logger) (*Gateway, error) {
	if cfg == nil {
		return nil, errors.New("gateway: nil config") //nolint:err113 // programming error, not matched by callers
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg:     cfg,
		log:     logger,
		metrics: NewMetrics(),
	}
	g.httpServer = &http.Server{
		Handler:           g.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	return g, nil
}

// Metrics returns the gateway's Prometheus collectors.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// Listen binds the HTTP listener (and, as the gateway grows, the SIP and
// WebRTC sockets). It is called by Run when needed; calling it first lets a
// caller learn the bound addresses (HTTPAddr) when the configuration asks for
// port 0. It returns the first bind error, naming the configured address.
func (g *Gateway) Listen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return ErrClosed
	}
	if g.httpLn != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", g.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("gateway: http listener %s: %w", g.cfg.HTTP.Listen, err)
	}
	if tc := g.cfg.HTTP.TLS; tc.Enabled() {
		cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		if err != nil {
			_ = ln.Close()

			return fmt.Errorf("gateway: http tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	g.httpLn = ln

	return nil
}

// HTTPAddr is the bound HTTP address, or nil before Listen.
func (g *Gateway) HTTPAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.httpLn == nil {
		return nil
	}

	return g.httpLn.Addr()
}

// Run serves until ctx is cancelled, then shuts down: readiness turns false at
// once, new calls are refused, calls in progress may finish during the
// configured grace period, and whatever remains is hung up before Run returns.
// Run returns nil after a clean shutdown, or the error that stopped it.
// A Gateway runs once.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		return err
	}
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()

		return ErrClosed
	}
	g.started = true
	ln := g.httpLn
	g.mu.Unlock()

	g.log.Info("gateway listening", "http", ln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- g.httpServer.Serve(ln) }()
	g.ready.Store(true)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("gateway: http server: %w", err)
	}
	g.ready.Store(false)
	g.draining.Store(true)

	grace := g.cfg.Shutdown.GracePeriod
	g.log.Info("gateway shutting down", "grace_period", grace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := g.httpServer.Shutdown(sctx); err != nil {
		// Grace period over: close whatever connection is left.
		_ = g.httpServer.Close()
	}
	if runErr == nil {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("gateway: http server: %w", err)
		}
	}
	g.log.Info("gateway stopped")

	return runErr
}
