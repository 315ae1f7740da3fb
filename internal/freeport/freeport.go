// Package freeport finds ports of 127.0.0.1 for tests that must name a port
// before a program binds it: a server started as another process
// (PostgreSQL, Redis, baresip) or a configuration that cannot ask for
// port 0. The port was free a moment ago; another process may take it
// before it is used, so prefer binding port 0 and passing the listener
// wherever the code under test allows it. It is imported only by tests.
package freeport

import (
	"context"
	"net"
	"net/netip"
	"testing"
)

// TCP returns an IPv4 loopback address whose TCP port was free a moment
// ago. It fails the test when no port can be bound.
func TCP(tb testing.TB) netip.AddrPort {
	tb.Helper()

	return find(tb, "tcp4")
}

// UDP returns an IPv4 loopback address whose UDP port was free a moment
// ago. It fails the test when no port can be bound.
func UDP(tb testing.TB) netip.AddrPort {
	tb.Helper()

	return find(tb, "udp4")
}

// find binds port 0 of 127.0.0.1 on network, notes the port the kernel
// chose and releases it.
func find(tb testing.TB, network string) netip.AddrPort {
	tb.Helper()
	var lc net.ListenConfig
	var addr net.Addr
	switch network {
	case "udp4":
		c, err := lc.ListenPacket(context.Background(), network, "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("freeport: %v", err)
		}
		addr = c.LocalAddr()
		_ = c.Close()
	default:
		ln, err := lc.Listen(context.Background(), network, "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("freeport: %v", err)
		}
		addr = ln.Addr()
		_ = ln.Close()
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		tb.Fatalf("freeport: %v", err)
	}

	return ap
}
