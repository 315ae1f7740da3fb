package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testcert"
	"github.com/webtrunk/webtrunk/telephony"
)

// viaListener is the port a stream trunk names in the Via of its requests. RFC 3261 section
// 18.2.2 lets a server open a new connection to it when the request's connection is gone; it
// counts the connections it accepts after armed is set and keeps them open until closed.
type viaListener struct {
	ln    net.Listener
	armed atomic.Bool
	late  atomic.Int32 // connections accepted after armed was set
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

func newViaListener(t *testing.T) *viaListener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &viaListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if v.armed.Load() {
				v.late.Add(1)
			}
			v.mu.Lock()
			v.conns = append(v.conns, c)
			v.mu.Unlock()
		}
	}()
	return v
}

func (v *viaListener) addr() netip.AddrPort { return v.ln.Addr().(*net.TCPAddr).AddrPort() }

// close stops accepting, closes what was accepted and waits for the accepting goroutine.
func (v *viaListener) close() {
	v.ln.Close()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.conns {
		c.Close()
	}
}

// floodConn keeps window OPTIONS requests in flight on one connection to the user agent: a
// writer sends whenever a slot is free, a reader frees one per response status line. Both end
// when the connection fails or stop is closed.
type floodConn struct {
	conn   net.Conn
	sent   atomic.Int32 // requests written
	acks   atomic.Int32 // responses read
	ok     atomic.Int32 // of which 200
	slots  chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

func startFloodConn(conn net.Conn, transport string, via netip.AddrPort, to netip.AddrPort, id, window int) *floodConn {
	f := &floodConn{conn: conn, slots: make(chan struct{}, window), stop: make(chan struct{})}
	for range window {
		f.slots <- struct{}{}
	}
	f.wg.Go(func() { // writer
		for n := 0; ; n++ {
			select {
			case <-f.stop:
				return
			case <-f.slots:
			}
			msg := optionsText(transport, via, to.String(), fmt.Sprintf("z9hG4bK-%s-%d-%d", strings.ToLower(transport), id, n))
			if _, err := conn.Write([]byte(msg)); err != nil {
				return
			}
			f.sent.Add(1)
		}
	})
	f.wg.Go(func() { // reader
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if !strings.HasPrefix(line, "SIP/2.0 ") {
				continue
			}
			f.acks.Add(1)
			if strings.HasPrefix(line, "SIP/2.0 200 ") {
				f.ok.Add(1)
			}
			select {
			case f.slots <- struct{}{}:
			default:
			}
		}
	})
	return f
}

// close ends the flood and waits for its goroutines.
func (f *floodConn) close() {
	f.closed.Do(func() {
		close(f.stop)
		f.conn.Close()
		f.wg.Wait()
	})
}

// streamTLS returns a server configuration with cert and a client configuration trusting roots.
func streamTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	cert, roots := testcert.SelfSigned(t)
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// TestShutdownDuringStreamFlood: trunks keep dozens of OPTIONS in flight over TCP and over TLS
// while Serve shuts down. Requests read just before the connections close are answered by
// sipgo after they closed; RFC 3261 section 18.2.2 would have it open a new connection to the
// Via address for that, which would outlive the user agent. No connection may reach the
// trunks' Via ports once the shutdown began, and startUA's cleanup fails on any goroutine left
// behind.
func TestShutdownDuringStreamFlood(t *testing.T) {
	serverTLS, clientTLS := streamTLS(t)
	env := startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
		},
		Trunks: []Trunk{inboundTrunk()},
	})
	const (
		connsPerTransport = 4
		window            = 16 // requests in flight per connection
	)
	vias := map[telephony.Transport]*viaListener{telephony.TransportTCP: newViaListener(t), telephony.TransportTLS: newViaListener(t)}
	floods := map[telephony.Transport][]*floodConn{}
	var once sync.Once
	// finish stops the trunks; registered after startUA, so it runs before its leak check.
	finish := func() {
		once.Do(func() {
			for _, fs := range floods {
				for _, f := range fs {
					f.close()
				}
			}
			for _, v := range vias {
				v.close()
			}
		})
	}
	t.Cleanup(finish)

	for _, tp := range []telephony.Transport{telephony.TransportTCP, telephony.TransportTLS} {
		addr, ok := env.ua.ListenAddr(tp)
		if !ok {
			t.Fatalf("no %s listener", tp)
		}
		for i := range connsPerTransport {
			var conn net.Conn
			var err error
			if tp == telephony.TransportTLS {
				conn, err = (&tls.Dialer{Config: clientTLS}).DialContext(t.Context(), "tcp", addr.String())
			} else {
				conn, err = (&net.Dialer{}).DialContext(t.Context(), "tcp", addr.String())
			}
			if err != nil {
				t.Fatalf("%s dial: %v", tp, err)
			}
			floods[tp] = append(floods[tp], startFloodConn(conn, strings.ToUpper(string(tp)), vias[tp].addr(), addr, i, window))
		}
	}
	answered := func(tp telephony.Transport) int {
		n := 0
		for _, f := range floods[tp] {
			n += int(f.ok.Load())
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second) // a bound for a loaded machine, not a speed requirement
	for (answered(telephony.TransportTCP) < 200 || answered(telephony.TransportTLS) < 200) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if overTCP, overTLS := answered(telephony.TransportTCP), answered(telephony.TransportTLS); overTCP < 200 || overTLS < 200 {
		t.Fatalf("OPTIONS answered within 20 s: %d over TCP, %d over TLS; want at least 200 each before shutting down", overTCP, overTLS)
	}

	for _, v := range vias {
		v.armed.Store(true)
	}
	inFlight := 0
	for _, fs := range floods {
		for _, f := range fs {
			inFlight += int(f.sent.Load() - f.acks.Load())
		}
	}
	env.shutdown() // while the trunks keep requests in flight
	t.Logf("%d requests in flight when the shutdown began", inFlight)
	if inFlight < 24 {
		t.Errorf("%d requests in flight when the shutdown began, want dozens", inFlight)
	}
	// Requests sipgo read before the end are handled in goroutines of their own that may
	// still be running: give them time to try to connect.
	time.Sleep(200 * time.Millisecond)
	finish()
	for tp, v := range vias {
		if n := v.late.Load(); n != 0 {
			t.Errorf("%d connections to the trunk's %s Via port were opened after shutdown began, want none", n, tp)
		}
	}
}
