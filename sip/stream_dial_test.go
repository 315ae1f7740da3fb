package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// streamPeer is the other end of one TCP or TLS connection of the user agent (a trunk's, or a
// stranger's that connects to the user agent's listener); a reader goroutine parses what
// arrives with sipgo's stream parser. The test's cleanup closes the connection and waits for
// the reader.
type streamPeer struct {
	conn net.Conn
	msgs chan sipmsg.Message // closed when the connection ends
}

func newStreamPeer(t *testing.T, conn net.Conn) *streamPeer {
	t.Helper()
	p := &streamPeer{conn: conn, msgs: make(chan sipmsg.Message, 64)}
	go func() {
		defer close(p.msgs)
		par := sipmsg.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			err = par.ParseSIPStream(buf[:n], func(m sipmsg.Message) { p.msgs <- m })
			if err != nil && !errors.Is(err, sipmsg.ErrParseSipPartial) {
				return
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		for range p.msgs {
		}
	})
	return p
}

// next returns the first message that arrives within d and satisfies match,
// skipping the others: nil and ended true when the connection ends first,
// nil and false when d passes.
func (p *streamPeer) next(d time.Duration, match func(sipmsg.Message) bool) (m sipmsg.Message, ended bool) {
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return nil, true
			}
			if match(m) {
				return m, false
			}
		case <-timeout:
			return nil, false
		}
	}
}

// expectRequest skips other messages until a request of method arrives (or fails after d).
func (p *streamPeer) expectRequest(t *testing.T, method sipmsg.RequestMethod, d time.Duration) *sipmsg.Request {
	t.Helper()
	m, ended := p.next(d, func(m sipmsg.Message) bool {
		req, isReq := m.(*sipmsg.Request)
		return isReq && req.Method == method
	})
	if ended {
		t.Fatalf("trunk connection ended before a %s arrived", method)
	}
	if m == nil {
		t.Fatalf("no %s within %v", method, d)
	}
	return m.(*sipmsg.Request)
}

// expectClosed fails unless the user agent closes the connection within d.
func (p *streamPeer) expectClosed(t *testing.T, d time.Duration) {
	t.Helper()
	if _, ended := p.next(d, func(sipmsg.Message) bool { return false }); !ended {
		t.Fatalf("the user agent kept the connection to the trunk open for %v", d)
	}
}

// final returns the first final response that arrives within d; nil when none does, or when
// the connection ends first.
func (p *streamPeer) final(d time.Duration) *sipmsg.Response {
	m, _ := p.next(d, func(m sipmsg.Message) bool {
		res, isRes := m.(*sipmsg.Response)
		return isRes && res.StatusCode >= 200
	})
	if m == nil {
		return nil
	}
	return m.(*sipmsg.Response)
}

func (p *streamPeer) send(t *testing.T, m sipmsg.Message) {
	t.Helper()
	if _, err := p.conn.Write([]byte(m.String())); err != nil {
		t.Fatalf("trunk write: %v", err)
	}
}

// acceptOne returns the first connection accepted on ln within d.
func acceptOne(t *testing.T, ln net.Listener, d time.Duration) net.Conn {
	t.Helper()
	type accepted struct {
		conn net.Conn
		err  error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("accept: %v", a.err)
		}
		return a.conn
	case <-time.After(d):
		ln.Close()
		<-ch
		t.Fatalf("the user agent did not connect within %v", d)
		return nil
	}
}

// TestDialOverStream: outbound calls still open their TCP or TLS connection to the trunk (over
// TLS verified with Config.ClientTLS), the trunk's final answer reaches Dial, and the user agent
// closes the connection when it stops.
func TestDialOverStream(t *testing.T) {
	for _, tp := range []telephony.Transport{telephony.TransportTCP, telephony.TransportTLS} {
		t.Run(string(tp), func(t *testing.T) {
			serverTLS, clientTLS := streamTLS(t)
			ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tp == telephony.TransportTLS {
				ln = tls.NewListener(ln, serverTLS)
			}
			defer ln.Close()
			listener := Listener{Transport: tp, Addr: "127.0.0.1:0"}
			if tp == telephony.TransportTLS {
				listener.TLS = serverTLS
			}
			env := startUA(t, Config{
				Listeners: []Listener{{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"}, listener},
				ClientTLS: clientTLS,
				Trunks:    []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Transport: tp}},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dialed := dialAsync(ctx, env, DialRequest{Trunk: "carrier", To: "+15557654321"})

			peer := newStreamPeer(t, acceptOne(t, ln, 5*time.Second))
			inv := peer.expectRequest(t, sipmsg.INVITE, 5*time.Second)
			if via := inv.Via(); via == nil || !strings.EqualFold(via.Transport, string(tp)) {
				t.Errorf("INVITE Via %v, want transport %s", via, tp)
			}
			busy := sipmsg.NewResponseFromRequest(inv, 486, "Busy Here", nil)
			busy.To().Params.Add("tag", "peertag")
			peer.send(t, busy)
			peer.expectRequest(t, sipmsg.ACK, 5*time.Second) // RFC 3261 section 17.1.1.3

			var se *StatusError
			if err := await(t, dialed, "Dial").err; !errors.As(err, &se) || se.Code != 486 {
				t.Fatalf("Dial error %v, want StatusError 486", err)
			}
			env.shutdown()
			peer.expectClosed(t, 5*time.Second)
		})
	}
}

// TestShutdownClosesPendingTLSDial: a call is being placed over TLS to a trunk that has accepted
// the TCP connection but not finished the handshake when the user agent stops. That connection
// is not in sipgo's pool yet, so clearing the pool misses it; Serve must still close it before
// it returns, and Dial then fails.
func TestShutdownClosesPendingTLSDial(t *testing.T) {
	serverTLS, clientTLS := streamTLS(t)
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp4", "127.0.0.1:0") // accepts, but never answers the ClientHello
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
		},
		ClientTLS: clientTLS,
		Trunks:    []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Transport: telephony.TransportTLS}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialed := dialAsync(ctx, env, DialRequest{Trunk: "carrier", To: "+15557654321"})

	conn := acceptOne(t, ln, 5*time.Second)
	t.Cleanup(func() { conn.Close() })
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(buf); err != nil || n == 0 || buf[0] != 0x16 {
		t.Fatalf("read %d bytes (%v), want a TLS handshake record", n, err)
	}

	env.shutdown()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(buf); err == nil || isTimeout(err) {
		t.Errorf("read after Serve returned: %v, want the connection closed by the user agent", err)
	}
	if err := await(t, dialed, "Dial after the shutdown").err; err == nil {
		t.Error("Dial succeeded, want the aborted handshake's error")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
