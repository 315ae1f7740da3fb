package turnserver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/pion/turn/v5"
)

// errTCPRelay refuses TCP allocations (RFC 6062): browsers relay over UDP.
var errTCPRelay = errors.New("turnserver: TCP relays are not offered")

// maxDatagram is the largest datagram a relay passes, in bytes.
const maxDatagram = 1600

// relayGenerator makes the relay sockets of allocations: UDP sockets on the
// relay address, each wrapped in a relayConn that talks only to the
// gateway's media addresses within the bandwidth limit.
type relayGenerator struct {
	srv *Server
}

// Validate implements turn.RelayAddressGenerator.
func (g *relayGenerator) Validate() error { return nil }

// AllocatePacketConn binds a relay socket on the relay address.
func (g *relayGenerator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	lc := net.ListenConfig{}
	pc, err := lc.ListenPacket(context.Background(), c.Network, net.JoinHostPort(g.srv.s.RelayIP.String(), strconv.Itoa(c.RequestedPort)))
	if err != nil {
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, srv: g.srv}
	if bw := g.srv.s.MaxBandwidth; bw > 0 {
		burst := max(bw/4, maxDatagram)
		rc.in = rate.NewLimiter(rate.Limit(bw), burst)
		rc.out = rate.NewLimiter(rate.Limit(bw), burst)
	}

	return rc, pc.LocalAddr(), nil
}

// AllocateListener refuses TCP relays.
func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

// AllocateConn refuses TCP relays.
func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// relayConn is one allocation's relay socket: datagrams to or from any
// address but the gateway's media addresses are dropped and counted as
// refused peers, datagrams over the bandwidth limit are dropped, and the
// relayed bytes are counted.
type relayConn struct {
	net.PacketConn
	srv     *Server
	in, out *rate.Limiter
}

// ReadFrom returns the next datagram from an allowed peer within the
// limit.
func (c *relayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		switch {
		case !c.srv.allowedPeer(addr):
			c.srv.refused.Add(1)
		case c.in != nil && !c.in.AllowN(time.Now(), n):
			c.srv.dropped.Add(1)
		default:
			c.srv.relayed.Add(uint64(n)) //nolint:gosec // n >= 0

			return n, addr, nil
		}
	}
}

// WriteTo sends b to addr when it is an allowed peer within the limit; a
// refused datagram is dropped silently, as a firewall would, and reported
// as sent.
func (c *relayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	switch {
	case !c.srv.allowedPeer(addr):
		c.srv.refused.Add(1)

		return len(b), nil
	case c.out != nil && !c.out.AllowN(time.Now(), len(b)):
		c.srv.dropped.Add(1)

		return len(b), nil
	}
	n, err := c.PacketConn.WriteTo(b, addr)
	c.srv.relayed.Add(uint64(max(n, 0))) //nolint:gosec // n >= 0

	return n, err
}
