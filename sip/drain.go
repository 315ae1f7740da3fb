package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Shutdown of the transport without leaks.
//
// sipgo hands every message it reads to its transaction layer in a new goroutine, which looks
// up the connection to answer on in the transport's pool by the source address. The pool maps a
// source to the listening socket only while that socket's read loop runs; once the loop has
// ended (or the pool is cleared), a request still being handled makes sipgo open a new
// ephemeral UDP socket with a read goroutine that nothing ever closes; over TCP and TLS it
// opens a new connection to the Via address (see dialgate.go). Serve therefore closes the
// transport in this order:
//
//  1. the dial gate closes: from then on sipgo cannot open a TCP or TLS connection;
//  2. the inflow gate closes: datagrams read from then on are dropped before sipgo sees them,
//     and the gate waits until every datagram it admitted earlier has been dispatched (its
//     source mapped in the pool, its handling goroutine started);
//  3. every source that sent a request, and every listening address, is pinned in the pool to
//     a pinnedConn that writes through the listening socket and is never removed, so a request
//     still being handled answers from the listening socket or fails once it is closed, and
//     never creates a socket;
//  4. the listening sockets close, their read loops end, sipgo's transactions are terminated
//     and the stream transports' connections are closed;
//  5. the dial gate's sweep closes the TCP and TLS connections that were being opened when the
//     gate closed and so could reach sipgo's pools after step 4.

// inflow gates the datagrams of the UDP listeners on their way to sipgo and records the source
// address of every request it admitted, for pinning at shutdown.
type inflow struct {
	mu      sync.Mutex
	idle    *sync.Cond // signalled when pending drops to 0
	closed  bool
	pending int               // admitted datagrams whose read loop has not read again yet
	sources map[string]string // remote address (host:port) that sent requests -> listener address
}

func newInflow() *inflow {
	in := &inflow{sources: map[string]string{}}
	in.idle = sync.NewCond(&in.mu)
	return in
}

// admit reports whether a datagram from src may reach sipgo; on true the caller counts as
// dispatching until its next call to dispatched.
func (in *inflow) admit(src net.Addr, local string, data []byte) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	if !isResponse(data) {
		// Responses never make sipgo create a connection; requests do (server transactions).
		in.sources[src.String()] = local
	}
	in.pending++
	return true
}

// dispatched ends the dispatching started by admit.
func (in *inflow) dispatched() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.pending--
	if in.pending == 0 {
		in.idle.Broadcast()
	}
}

// close stops admitting, waits until every admitted datagram has been dispatched and returns
// the recorded request sources with the listener address each sent to.
func (in *inflow) close() map[string]string {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	for in.pending > 0 {
		in.idle.Wait()
	}
	return in.sources
}

func isResponse(data []byte) bool {
	const prefix = "SIP/2.0 "
	return len(data) >= len(prefix) && string(data[:len(prefix)]) == prefix
}

// gatedPacketConn is a UDP listening socket as sipgo's read loop sees it: every datagram passes
// the inflow gate. sipgo's loop reads, then dispatches synchronously, then reads again, so a
// call to ReadFrom tells that the previous datagram has been dispatched.
type gatedPacketConn struct {
	net.PacketConn
	udp     *net.UDPConn // the same socket, for reading with the truncation flag
	in      *inflow
	local   string // LocalAddr().String(), the key of the listener in sipgo's pool
	pending bool   // only touched by the read loop
	// tooLarge is called with the first bytes of a datagram that did not fit the read buffer,
	// which is then not passed on; it may answer through reply.
	tooLarge func(head []byte, src netip.AddrPort, reply func([]byte))
}

// ReadFrom returns the next datagram the gate admits; after the gate closed it drops datagrams
// until the socket is closed. A datagram longer than b goes to tooLarge instead.
func (c *gatedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.pending {
		c.pending = false
		c.in.dispatched()
	}
	for {
		n, _, flags, ap, err := c.udp.ReadMsgUDPAddrPort(b, nil)
		if err != nil {
			return n, nil, err
		}
		src := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if flags&syscall.MSG_TRUNC != 0 {
			if c.tooLarge != nil {
				c.tooLarge(b[:n], src, func(res []byte) { _, _ = c.udp.WriteToUDPAddrPort(res, ap) })
			}
			continue
		}
		addr := net.UDPAddrFromAddrPort(src)
		if c.in.admit(addr, c.local, b[:n]) {
			c.pending = true
			return n, addr, nil
		}
	}
}

// errRetired is returned for a write on a pinned connection that has no socket behind it.
var errRetired = fmt.Errorf("sip: connection retired at shutdown: %w", net.ErrClosed)

// pinnedConn stands in sipgo's connection pool for the listening socket during and after
// shutdown. Its references are not counted and sipgo cannot close it; writes go through the
// listening socket (and fail once it is closed), or fail at once when there is none.
type pinnedConn struct {
	via   sipmsg.Connection // the listening socket's connection, or nil
	local net.Addr
}

// LocalAddr returns the listening address.
func (c *pinnedConn) LocalAddr() net.Addr { return c.local }

// WriteMsg writes m through the listening socket.
func (c *pinnedConn) WriteMsg(m sipmsg.Message) error {
	if c.via == nil {
		return errRetired
	}
	return c.via.WriteMsg(m)
}

// Ref does not count: the connection lives as long as the pool.
func (c *pinnedConn) Ref(int) int { return 1 }

// TryClose never closes.
func (c *pinnedConn) TryClose() (int, error) { return 1, nil }

// Close does nothing: the UA closes the listening sockets itself.
func (c *pinnedConn) Close() error { return nil }

// closeTransport closes the listeners and sipgo's layers in the order described at the top of
// this file; lwg is the group of the listeners' serving goroutines. It returns when they ended.
func (ua *UA) closeTransport(listeners []*boundListener, lwg *sync.WaitGroup) {
	ua.gate.close()
	sources := ua.inflow.close()
	udp := ua.sua.TransportLayer().Pool("udp")
	pins := map[string]*pinnedConn{}
	for _, b := range listeners {
		if b.conn != nil {
			pins[b.conn.LocalAddr().String()] = &pinnedConn{via: b.conn, local: b.conn.LocalAddr()}
		}
	}
	for src, local := range sources {
		if l, ok := pins[local]; ok {
			if _, taken := pins[src]; !taken {
				pins[src] = l
			}
		}
	}
	pin := func() {
		for addr, c := range pins {
			udp.Add(addr, c)
		}
	}
	pin()

	for _, b := range listeners {
		_ = b.closer.Close()
	}
	lwg.Wait()
	ua.sua.TransactionLayer().Close()

	tp := ua.sua.TransportLayer()
	var err error
	for _, network := range []string{"tcp", "tls", "ws", "wss"} {
		err = errors.Join(err, tp.Pool(network).Clear())
	}
	if err != nil {
		ua.log.Debug("sip transport close", "error", err)
	}
	if n := ua.gate.sweep(sweepTimeout); n > 0 {
		ua.log.Warn("sip connections still open after shutdown", "connections", n)
	}
	if n := udp.Size(); n > len(pins) {
		// Not expected: every UDP message leaves from a listening socket. Close whatever
		// sipgo opened, then pin again.
		ua.log.Warn("sip closing unexpected UDP connections", "connections", n-len(pins))
		_ = udp.Clear()
		pin()
	}
}
