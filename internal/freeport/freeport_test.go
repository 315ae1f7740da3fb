package freeport

import (
	"context"
	"net"
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
		find func(testing.TB) (string, error)
	}{
		{"tcp", func(tb testing.TB) (string, error) {
			ap := TCP(tb)
			ln, err := lc.Listen(ctx, "tcp4", ap.String())
			if err != nil {
				return ap.String(), err
			}

			return ap.String(), ln.Close()
		}},
		{"udp", func(tb testing.TB) (string, error) {
			ap := UDP(tb)
			c, err := lc.ListenPacket(ctx, "udp4", ap.String())
			if err != nil {
				return ap.String(), err
			}

			return ap.String(), c.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, err := tc.find(t)
			if err != nil {
				t.Fatalf("binding %s: %v", addr, err)
			}
			ap, err := net.ResolveTCPAddr("tcp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			if !ap.IP.IsLoopback() || ap.Port == 0 {
				t.Errorf("address %s, want a loopback address with a port", addr)
			}
		})
	}
}
