package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/telephony"
)

// env is a running gateway and a fake trunk wired to each other on
// loopback.
type env struct {
	t     *testing.T
	gw    *Gateway
	cfg   *config.Config
	trunk *faketrunk.Trunk
	http  string
	sip   netip.AddrPort // the gateway's SIP UDP address
	logs  *logcapture.Capture
	stop  context.CancelFunc
	done  chan error
}

// newEnv starts a fake trunk and a gateway whose trunk "fake" it is; both
// stop at cleanup (the gateway first), and the gateway's Run must return.
// Every socket is bound on port 0 before its address is handed on: the
// fake trunk's first, then the gateway's. opts shape the fake trunk.
func newEnv(t *testing.T, tc testConfig, opts ...faketrunk.Option) *env {
	t.Helper()
	logger, logs := logcapture.New(t)
	trunk := faketrunk.New(t, append([]faketrunk.Option{faketrunk.WithLogger(logger.With("component", "fake-trunk"))}, opts...)...)
	e := startGateway(t, tc, int(trunk.Addr().Port()), logger, logs)
	e.trunk = trunk

	return e
}

// startGateway starts a gateway logging to logger (whose lines logs
// holds), listening for SIP on a port of its own choice on 127.0.0.1
// (e.sip), whose trunk "fake" is at 127.0.0.1:trunkPort; it stops at
// cleanup, and its Run must return.
func startGateway(t *testing.T, tc testConfig, trunkPort int, logger *slog.Logger, logs *logcapture.Capture) *env {
	t.Helper()
	tc.trunkPort = trunkPort
	cfg := parseTestConfig(t, tc)
	gw, err := New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tc.prepare != nil {
		tc.prepare(gw)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	sipAddr, ok := gw.SIPAddr(telephony.TransportUDP)
	if !ok {
		t.Fatal("no SIP address after Listen")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, gw: gw, cfg: cfg, http: gw.HTTPAddr().String(), sip: sipAddr, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { e.done <- gw.Run(ctx) }()
	t.Cleanup(e.shutdown)

	return e
}

// shutdown stops the gateway and waits for Run.
func (e *env) shutdown() {
	e.t.Helper()
	e.stop()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(20 * time.Second):
		e.t.Fatal("Run did not return after shutdown")
	}
}
