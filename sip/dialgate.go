package sip

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Outgoing TCP and TLS connections at shutdown.
//
// sipgo answers a request in a goroutine of its own. Over TCP and TLS it answers on the
// connection the request came in on, but when that connection is no longer in its pool (the
// user agent closed it while the request was being handled) it opens a new connection to the
// address in the Via header, as RFC 3261 section 18.2.2 allows. Late at shutdown such a
// connection would be created after the pools were cleared and outlive the user agent.
//
// Every TCP and TLS connection sipgo opens goes through dialGate.dialer. Once closeTransport
// closed the gate, the dialer fails before connecting, so a late answer fails instead of
// opening a connection. Connections whose dialling passed the gate earlier but which reach
// sipgo's pool only after it was cleared (a TLS handshake still running, say) are found by
// sweep and shut down, so that sipgo's reader closes them.

// errClosing is the error of a TCP or TLS connection refused because the user agent is closing
// its transport; sipgo wraps it in the error of the request or response that needed it.
var errClosing = fmt.Errorf("sip: ua closing, no new connections: %w", ErrShuttingDown)

// sweepTimeout bounds how long closeTransport waits for the sockets sweep shut down to be closed.
const sweepTimeout = 2 * time.Second

// dialGate admits the TCP and TLS connections sipgo opens while the user agent runs and
// refuses them once closed; it remembers the sockets it admitted until they are closed.
type dialGate struct {
	mu      sync.Mutex
	closed  bool
	sockets map[syscall.RawConn]struct{} // admitted sockets, closed ones removed lazily
}

func newDialGate() *dialGate {
	return &dialGate{sockets: map[syscall.RawConn]struct{}{}}
}

// transports returns sipgo's TCP and TLS transports with g as their dialer, for
// sipmsg.WithTransportLayerTransports. Everything else keeps sipgo's defaults: sipgo initialises
// them (parser, pool, the user agent's client TLS configuration) as it does its own, and the
// transport layer copies in connection reuse and the read filter. One difference remains: sipgo
// offers no way to give a transport of our own a logger, so these two log through sipgo's
// default logger (slog.Default unless sipmsg.SetDefaultLogger was called), as sipgo's TCP
// connections always do, instead of Config.Logger.
func (g *dialGate) transports() sipmsg.TransportsConfig {
	return sipmsg.TransportsConfig{
		TCP: &sipmsg.TransportTCP{DialerCreate: g.dialer},
		TLS: &sipmsg.TransportTLS{TransportTCP: &sipmsg.TransportTCP{DialerCreate: g.dialer}},
	}
}

// dialer is sipgo's default dialer (connect timeout of one minute, Go's default TCP keep-alive,
// bound to laddr when sipgo asks for a local address) with the gate as its control hook.
func (g *dialGate) dialer(laddr net.Addr) net.Dialer {
	return net.Dialer{Timeout: time.Minute, LocalAddr: laddr, ControlContext: g.admit}
}

// admit runs for every socket before it connects: it fails with errClosing once the gate is
// closed and otherwise records the socket.
func (g *dialGate) admit(_ context.Context, _, _ string, c syscall.RawConn) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errClosing
	}
	for s := range g.sockets {
		if !socketOpen(s) {
			delete(g.sockets, s)
		}
	}
	g.sockets[c] = struct{}{}
	return nil
}

// close refuses every connection from now on; idempotent.
func (g *dialGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// sweep shuts down (shutdown(2), both directions) every admitted socket that is still open,
// connected or not yet, until all of them have been closed or timeout has passed; sipgo's
// reader, or its failing TLS handshake, closes a socket once its reads end. It returns the
// number still open. Call it after close, once sipgo's pools were cleared: an open socket then
// belongs to a connection that reached the pool too late, or to a dial still running.
func (g *dialGate) sweep(timeout time.Duration) int {
	g.mu.Lock()
	open := make([]syscall.RawConn, 0, len(g.sockets))
	for s := range g.sockets {
		open = append(open, s)
	}
	clear(g.sockets)
	g.mu.Unlock()

	deadline := time.Now().Add(timeout)
	for {
		still := open[:0]
		for _, s := range open {
			// Control holds the socket, so its descriptor cannot be closed and reused by
			// another socket meanwhile; it fails once the socket is closed. Before connect(2)
			// has run shutdown fails with ENOTCONN and is tried again on the next round.
			if err := s.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }); err == nil {
				still = append(still, s)
			}
		}
		open = still
		if len(open) == 0 || time.Now().After(deadline) {
			return len(open)
		}
		time.Sleep(time.Millisecond)
	}
}

// socketOpen reports whether the socket behind s has not been closed.
func socketOpen(s syscall.RawConn) bool {
	return s.Control(func(uintptr) {}) == nil
}
