package sip

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// loopbackListener returns a TCP listener on 127.0.0.1 closed by the test's cleanup.
func loopbackListener(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// gateDial dials ln through g the way sipgo's stream transports do.
func gateDial(g *dialGate, laddr *net.TCPAddr, ln net.Listener) (net.Conn, error) {
	d := g.dialer(laddr) // sipgo passes a nil *net.TCPAddr when it has no local address
	return d.DialContext(context.Background(), "tcp", ln.Addr().String())
}

// TestDialGateAdmitsUntilClosed: while open the gate connects like sipgo's own dialer (also from
// a local address sipgo asks for); once closed it refuses before any connection is attempted,
// with an error that matches ErrShuttingDown.
func TestDialGateAdmitsUntilClosed(t *testing.T) {
	ln := loopbackListener(t)
	g := newDialGate()

	c, err := gateDial(g, nil, ln)
	if err != nil {
		t.Fatalf("dial while open: %v", err)
	}
	c.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()

	bind := loopbackListener(t) // a port known to be free once closed
	port := bind.Addr().(*net.TCPAddr).Port
	bind.Close()
	c, err = gateDial(g, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, ln)
	if err != nil {
		t.Fatalf("dial from 127.0.0.1:%d: %v", port, err)
	}
	if got := c.LocalAddr().(*net.TCPAddr).Port; got != port {
		t.Errorf("local port %d, want %d", got, port)
	}
	c.Close()
	if srv, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	g.close()
	g.close() // idempotent
	if c, err := gateDial(g, nil, ln); err == nil {
		c.Close()
		t.Fatal("dial after close succeeded")
	} else if !errors.Is(err, errClosing) || !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("dial after close: %v, want errClosing wrapping ErrShuttingDown", err)
	}
	_ = ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if srv, err := ln.Accept(); err == nil {
		srv.Close()
		t.Error("a connection reached the listener after the gate closed")
	}
}

// TestDialGateForgetsClosedSockets: a long-running user agent does not accumulate the sockets
// of connections that have ended.
func TestDialGateForgetsClosedSockets(t *testing.T) {
	ln := loopbackListener(t)
	g := newDialGate()
	for range 20 {
		c, err := gateDial(g, nil, ln)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		srv.Close()
	}
	g.mu.Lock()
	n := len(g.sockets)
	g.mu.Unlock()
	if n > 1 {
		t.Errorf("gate remembers %d sockets after 20 closed connections, want at most the last one", n)
	}
}

// TestDialGateSweep: sweep shuts down every socket still open, so that the far end sees the
// connection end, and waits for the owners to close them.
func TestDialGateSweep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		owner    func(net.Conn) // how the connection's owner reacts, run in its own goroutine
		closed   bool           // the owner closed the connection before the sweep
		wantOpen int
	}{
		{name: "owner closes when reads end", owner: func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() }},
		{name: "owner never closes", owner: func(net.Conn) {}, wantOpen: 1},
		{name: "already closed", closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := loopbackListener(t)
			g := newDialGate()
			c, err := gateDial(g, nil, ln)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			done := make(chan struct{})
			if tc.closed {
				c.Close()
				close(done)
			} else {
				go func() {
					defer close(done)
					tc.owner(c)
				}()
			}

			// sweep returns as soon as the owner has closed its socket: a long bound costs
			// nothing then, and holds on a busy machine. It waits the whole bound for a socket
			// that stays open.
			bound := 10 * time.Second
			if tc.wantOpen > 0 {
				bound = 100 * time.Millisecond
			}
			g.close()
			if got := g.sweep(bound); got != tc.wantOpen {
				t.Errorf("sweep left %d sockets open, want %d", got, tc.wantOpen)
			}
			<-done
			_ = srv.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := srv.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Errorf("far end read %v, want the connection ended", err)
			}
		})
	}
}
