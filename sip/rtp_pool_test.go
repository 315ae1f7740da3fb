package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
)

func TestNewPortPool(t *testing.T) {
	tests := []struct {
		name     string
		addr     netip.Addr
		min, max int
		wantSize int
	}{
		{"even to odd", loopback, 10000, 10009, 5},
		{"odd min rounds up", loopback, 10001, 10009, 4},
		{"even max loses its odd neighbour", loopback, 10000, 10010, 5},
		{"one pair", loopback, 10000, 10001, 1},
		{"top of the port space", loopback, 65534, 65535, 1},
		{"ipv6 unspecified", netip.IPv6Unspecified(), 10000, 10003, 2},
		{"no address", netip.Addr{}, 10000, 10009, 0},
		{"min 0", loopback, 0, 10, 0},
		{"max above 65535", loopback, 65534, 65536, 0},
		{"min above max", loopback, 10010, 10000, 0},
		{"single port", loopback, 10000, 10000, 0},
		{"odd to even has no pair", loopback, 10001, 10002, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPortPool(tt.addr, tt.min, tt.max)
			if tt.wantSize == 0 {
				if !errors.Is(err, ErrPortRange) {
					t.Errorf("NewPortPool = %v; want ErrPortRange", err)
				}
				return
			}
			if err != nil || p.Size() != tt.wantSize || p.InUse() != 0 {
				t.Fatalf("NewPortPool: %v, size %d, want %d", err, p.Size(), tt.wantSize)
			}
		})
	}
}

func TestPortPoolAllocateExhaustRelease(t *testing.T) {
	p := newTestPool(t, 3)
	var conns []*RTPConn
	seen := map[uint16]bool{}
	for range 3 {
		c := listen(t, p)
		port := c.LocalAddr().Port()
		if port%2 != 0 || seen[port] || c.LocalAddr().Addr() != loopback {
			t.Fatalf("got %v; want a new even port on 127.0.0.1 (have %v)", c.LocalAddr(), seen)
		}
		seen[port] = true
		// Both ports of the pair are ours: nobody else can bind them.
		for _, q := range []uint16{port, port + 1} {
			if other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, q))); err == nil {
				_ = other.Close()
				t.Fatalf("port %d is not bound by the conn", q)
			}
		}
		conns = append(conns, c)
	}
	if p.InUse() != 3 {
		t.Fatalf("InUse = %d, want 3", p.InUse())
	}
	if c, err := p.Listen(); !errors.Is(err, ErrNoPorts) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Listen on a full pool = %v, want ErrNoPorts", err)
	}

	freed := conns[1].LocalAddr()
	if err := conns[1].Close(); err != nil {
		t.Fatal(err)
	}
	if err := conns[1].Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if p.InUse() != 2 {
		t.Fatalf("InUse after Close = %d, want 2", p.InUse())
	}
	again := listen(t, p)
	if again.LocalAddr() != freed {
		t.Fatalf("Listen after release got %v, want the freed %v", again.LocalAddr(), freed)
	}
	for _, c := range append(conns, again) {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if p.InUse() != 0 {
		t.Fatalf("InUse after closing all = %d", p.InUse())
	}
	// The ports are free for anyone again.
	for port := range seen {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, port)))
		if err != nil {
			t.Fatalf("port %d not released: %v", port, err)
		}
		_ = c.Close()
	}
}

func TestPortPoolRoundRobin(t *testing.T) {
	p := newTestPool(t, 4)
	var got []uint16
	for range 6 {
		c := listen(t, p)
		got = append(got, c.LocalAddr().Port())
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	base := uint16(testPortBase(4))
	for i, port := range got {
		if want := base + uint16(2*(i%4)); port != want {
			t.Fatalf("ports %v: a released port was reused before the others (want %d at %d)", got, want, i)
		}
	}
}

func TestPortPoolSkipsPortsOfOthers(t *testing.T) {
	p := newTestPool(t, 3)
	base := testPortBase(3)
	// Another process holds the RTP port of the first pair and the RTCP
	// port of the second.
	for _, port := range []int{base, base + 3} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	c := listen(t, p)
	if want := uint16(base + 4); c.LocalAddr().Port() != want {
		t.Fatalf("Listen got %v, want port %d", c.LocalAddr(), want)
	}
	if c2, err := p.Listen(); !errors.Is(err, ErrNoPorts) {
		if c2 != nil {
			_ = c2.Close()
		}
		t.Fatalf("second Listen = %v, want ErrNoPorts", err)
	}
	if p.InUse() != 1 {
		t.Fatalf("InUse = %d, want 1", p.InUse())
	}
}

func TestPortPoolListenError(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is not an address of this host: binding
	// fails with an error other than "in use", which Listen reports.
	p, err := NewPortPool(netip.MustParseAddr("192.0.2.1"), 30000, 30009)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Listen()
	if err == nil {
		_ = c.Close()
		t.Fatal("Listen on a foreign address succeeded")
	}
	if errors.Is(err, ErrNoPorts) || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("Listen = %v, want the bind error", err)
	}
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d", p.InUse())
	}
}

func TestPortPoolConcurrent(t *testing.T) {
	const pairs, workers, rounds = 16, 8, 50
	p := newTestPool(t, pairs)
	var (
		mu    sync.Mutex
		owned = map[uint16]bool{}
		errs  = make(chan error, workers)
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range rounds {
				c, err := p.Listen()
				if err != nil {
					errs <- err
					return
				}
				port := c.LocalAddr().Port()
				mu.Lock()
				dup := owned[port]
				owned[port] = true
				mu.Unlock()
				if dup {
					errs <- fmt.Errorf("port %d handed out twice", port)
				}
				mu.Lock()
				delete(owned, port)
				mu.Unlock()
				if err := c.Close(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
