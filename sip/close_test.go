package sip

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/telephony"
)

// allListeners returns a UDP, a TCP and a TLS listener on 127.0.0.1 with ports the system picks.
func allListeners(t *testing.T) []Listener {
	t.Helper()
	serverTLS, _ := streamTLS(t)
	return []Listener{
		{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
		{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"},
		{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
	}
}

// boundAddrs returns the address of every listener of ua.
func boundAddrs(t *testing.T, ua *UA, listeners []Listener) map[telephony.Transport]netip.AddrPort {
	t.Helper()
	out := map[telephony.Transport]netip.AddrPort{}
	for _, l := range listeners {
		addr, ok := ua.ListenAddr(l.Transport)
		if !ok {
			t.Fatalf("no %s listener", l.Transport)
		}
		out[l.Transport] = addr
	}
	return out
}

// assertFreed fails unless every address can be bound again: the user agent closed its sockets.
func assertFreed(t *testing.T, addrs map[telephony.Transport]netip.AddrPort) {
	t.Helper()
	for tp, addr := range addrs {
		var err error
		if tp == telephony.TransportUDP {
			var c *net.UDPConn
			if c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr)); err == nil {
				err = c.Close()
			}
		} else {
			var ln net.Listener
			if ln, err = (&net.ListenConfig{}).Listen(t.Context(), "tcp4", addr.String()); err == nil {
				err = ln.Close()
			}
		}
		if err != nil {
			t.Errorf("%s listener %v still bound after Close: %v", tp, addr, err)
		}
	}
}

// TestCloseWithoutServe: Close releases what Listen bound when Serve never ran, leaves no
// goroutine behind, may be called again, and Listen and Serve refuse to start afterwards.
func TestCloseWithoutServe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen bool
	}{
		{"before Listen", false},
		{"after Listen", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listeners := allListeners(t)
			pool := uaPortPool(t)
			ua, err := NewUA(Config{Listeners: listeners, RTPPorts: pool, Logger: testLogger(t), Trunks: []Trunk{inboundTrunk()}})
			if err != nil {
				t.Fatalf("NewUA: %v", err)
			}
			var addrs map[telephony.Transport]netip.AddrPort
			if tc.listen {
				if err := ua.Listen(); err != nil {
					t.Fatalf("Listen: %v", err)
				}
				addrs = boundAddrs(t, ua, listeners)
			}
			for i := range 2 {
				if err := ua.Close(); err != nil {
					t.Fatalf("Close %d: %v", i+1, err)
				}
			}
			assertFreed(t, addrs)
			if err := ua.Listen(); !errors.Is(err, ErrClosed) {
				t.Errorf("Listen after Close: %v, want ErrClosed", err)
			}
			if err := ua.Serve(t.Context(), func(*IncomingCall) {}); !errors.Is(err, ErrClosed) {
				t.Errorf("Serve after Close: %v, want ErrClosed", err)
			}
			if _, err := ua.Dial(t.Context(), DialRequest{Trunk: "carrier", To: "+15557654321"}); !errors.Is(err, ErrShuttingDown) {
				t.Errorf("Dial after Close: %v, want ErrShuttingDown", err)
			}
			goleak.VerifyNone(t)
		})
	}
}

// TestCloseWhileServing: Close called from several goroutines while Serve runs makes Serve
// return, hangs up the established call with a BYE (cause ErrShuttingDown), ends a Dial whose
// INVITE is unanswered, and returns only when all of that is done: Serve has returned, the
// Dial has returned, every RTP port is back in the pool and every listener is closed. startUA's cleanup then finds no
// goroutine left.
func TestCloseWhileServing(t *testing.T) {
	peer := newWirePeer(t)
	listeners := allListeners(t)
	env := startUA(t, Config{Listeners: listeners, Trunks: []Trunk{wireTrunk(peer)}})
	addrs := boundAddrs(t, env.ua, listeners)
	call, _, _ := dialPeer(t, env, peer, 40060)
	pending := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654322"})
	peer.ExpectRequest(sipmsg.INVITE, 5*time.Second) // and never answered

	byeAnswered := peer.AnswerBye(env.addr)
	const closers = 3
	var wg sync.WaitGroup
	errs := make(chan error, closers)
	for range closers {
		wg.Go(func() { errs <- env.ua.Close() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	select {
	case <-env.ua.serveDone: // closed as Serve returns
	default:
		t.Error("Close returned while Serve still runs")
	}
	// Close waited for Dial to return (the ports check below); its result
	// reaches the channel from dialAsync's goroutine a moment later.
	select {
	case r := <-pending:
		if r.err == nil {
			t.Error("the unanswered Dial returned a call")
		}
	case <-time.After(5 * time.Second):
		t.Error("the unanswered Dial did not return with Close")
	}
	if n := env.pool.InUse(); n != 0 {
		t.Errorf("RTP ports in use when Close returned: %d, want 0", n)
	}
	assertFreed(t, addrs)
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE: %v", err)
	}
	if !errors.Is(call.Err(), ErrShuttingDown) {
		t.Errorf("call.Err() = %v, want ErrShuttingDown", call.Err())
	}
	if err := env.ua.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
}

// TestCloseAfterServe: once Serve has returned, Close has nothing left to do and returns nil.
func TestCloseAfterServe(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	env.shutdown()
	done := make(chan error, 1)
	go func() { done <- env.ua.Close() }()
	if err := awaitErr(t, done, "Close after Serve returned"); err != nil {
		t.Errorf("Close: %v", err)
	}
	assertFreed(t, map[telephony.Transport]netip.AddrPort{telephony.TransportUDP: env.addr})
}
