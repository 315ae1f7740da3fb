package freeport

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
)

// TestPortsCanBeBound checks that each address is a loopback one with a
// port that can be bound right after it was found.
func TestPortsCanBeBound(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ctx := context.Background()
	tests := []struct {
		name string
		find func(testing.TB) netip.AddrPort
		bind func(addr string) (io.Closer, error)
	}{
		{"tcp", TCP, func(addr string) (io.Closer, error) { return lc.Listen(ctx, "tcp4", addr) }},
		{"udp", UDP, func(addr string) (io.Closer, error) { return lc.ListenPacket(ctx, "udp4", addr) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ap := tc.find(t)
			if !ap.Addr().IsLoopback() || ap.Port() == 0 {
				t.Errorf("address %s, want a loopback address with a port", ap)
			}
			c, err := tc.bind(ap.String())
			if err != nil {
				t.Fatalf("binding %s: %v", ap, err)
			}
			_ = c.Close()
		})
	}
}
