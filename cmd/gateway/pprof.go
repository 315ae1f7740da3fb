package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/webtrunk/webtrunk/gateway"
)

// pprofServer serves the Go runtime profiles (net/http/pprof) on its own
// listener, apart from the gateway's HTTP listener, so that profiling is
// off unless asked for with -pprof and never reachable through the
// browser-facing port. (admin.pprof serves the same profiles on the admin
// listener instead, behind its token.)
type pprofServer struct {
	ln  net.Listener
	srv *http.Server
}

// listenPprof binds addr (host:port) for the profiles.
func listenPprof(addr string) (*pprofServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen: %w", err)
	}
	return &pprofServer{ln: ln, srv: &http.Server{Handler: gateway.ProfilesHandler(), ReadHeaderTimeout: 10 * time.Second}}, nil
}

// serve serves until ctx ends, then closes the listener and every
// connection (a CPU profile in progress is cut short) and returns.
func (p *pprofServer) serve(ctx context.Context, logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server", "error", err)
		}
	}()
	logger.Info("profiling enabled", "pprof", "http://"+p.ln.Addr().String()+"/debug/pprof/")
	<-ctx.Done()
	_ = p.srv.Close()
	<-done
}
