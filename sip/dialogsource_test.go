package sip

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/telephony"
)

// sendFrom sends req, a request of the trunk's dialog, from someone else than the trunk: over
// UDP from a wire at the loopback address from, or over TCP from a connection of from to dst.
// It returns the first final response that sender gets within d, nil when none.
func sendFrom(t *testing.T, network, from string, dst netip.AddrPort, req *sipmsg.Request, d time.Duration) *sipmsg.Response {
	t.Helper()
	if network == "udp" {
		s := faketrunk.NewWireAt(t, netip.MustParseAddr(from))
		s.Resend(req, dst)
		return s.Final(d)
	}
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := dialer.DialContext(t.Context(), network, dst.String())
	if err != nil {
		t.Fatalf("%s from %s to %s: %v", network, from, dst, err)
	}
	s := newStreamPeer(t, c)
	s.send(t, faketrunk.WithVia(req, strings.ToUpper(network), c.LocalAddr().(*net.TCPAddr).AddrPort()))
	return s.final(d)
}

// TestInDialogRequestsFromElsewhere: with a call established through a trunk at 127.0.0.1 over
// UDP, requests carrying the dialog's Call-ID and tags sent from another address (127.0.0.2),
// or from the trunk's address over TCP, are answered 403 and change nothing: the call stays up,
// reports no event, and its RTP still goes to the trunk's media address and not to the sender's.
func TestInDialogRequestsFromElsewhere(t *testing.T) {
	peer := newWirePeer(t)
	env := startUA(t, Config{
		Trunks: []Trunk{wireTrunk(peer)},
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"},
		},
	})
	tcpAddr, _ := env.ua.ListenAddr(telephony.TransportTCP)
	media := newPeer(t)                            // the trunk's RTP socket
	hijack := newPeerAt(t, net.IPv4(127, 0, 0, 2)) // where the stranger wants the audio
	call, inv, ok := dialPeer(t, env, peer, int(addrOf(media).Port()))
	want := call.RTP().RemoteAddr()
	if want != addrOf(media) {
		t.Fatalf("call sends RTP to %s, want %s", want, addrOf(media))
	}
	hijackSDP := []byte(strings.ReplaceAll(string(faketrunk.PCMUSDP(int(addrOf(hijack).Port()), "sendrecv")), "127.0.0.1", "127.0.0.2"))

	cseq := uint32(200)
	for _, tc := range []struct {
		name     string
		network  string
		from     string
		dst      netip.AddrPort
		method   sipmsg.RequestMethod
		body     []byte
		answered bool // ACKs are dropped silently
	}{
		{"re-INVITE from another address", "udp", "127.0.0.2", env.addr, sipmsg.INVITE, hijackSDP, true},
		{"UPDATE from another address", "udp", "127.0.0.2", env.addr, sipmsg.UPDATE, hijackSDP, true},
		{"INFO from another address", "udp", "127.0.0.3", env.addr, sipmsg.INFO, nil, true},
		{"OPTIONS from another address", "udp", "127.0.0.2", env.addr, sipmsg.OPTIONS, nil, true},
		{"REFER from another address", "udp", "127.0.0.2", env.addr, sipmsg.REFER, nil, true},
		{"ACK from another address", "udp", "127.0.0.2", env.addr, sipmsg.ACK, hijackSDP, false},
		{"BYE from another address", "udp", "127.0.0.2", env.addr, sipmsg.BYE, nil, true},
		{"re-INVITE from the trunk's address over TCP", "tcp", "127.0.0.1", tcpAddr, sipmsg.INVITE, hijackSDP, true},
		{"BYE from the trunk's address over TCP", "tcp", "127.0.0.1", tcpAddr, sipmsg.BYE, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cseq++
			req := peerRequest(peer, tc.method, inv, ok, cseq, tc.body)
			res := sendFrom(t, tc.network, tc.from, tc.dst, req, 2*time.Second)
			switch {
			case tc.answered && (res == nil || res.StatusCode != 403):
				t.Fatalf("response %v, want 403", res)
			case !tc.answered && res != nil:
				t.Fatalf("response %v to an ACK", res)
			}
			select {
			case <-call.Done():
				t.Fatalf("call ended: %v", call.Err())
			case ev := <-call.Events():
				t.Fatalf("event %v", ev.Kind)
			default:
			}
			if got := call.RTP().RemoteAddr(); got != want {
				t.Fatalf("RTP now goes to %s, want %s", got, want)
			}
		})
	}

	// The media still flows to the trunk, and none to the stranger.
	if _, err := call.RTP().WriteRTP(rtpPacket(0, 1)); err != nil {
		t.Fatalf("WriteRTP: %v", err)
	}
	_ = media.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	if n, err := media.Read(buf); err != nil || n != rtpHeaderLen+160 {
		t.Fatalf("trunk media read %d bytes: %v", n, err)
	}
	_ = hijack.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := hijack.Read(buf); err == nil {
		t.Fatalf("stranger received %d bytes of RTP", n)
	}
	if got := env.ua.Stats().ForeignInDialog; got != 9 {
		t.Errorf("Stats().ForeignInDialog = %d, want 9", got)
	}
	if m := call.Media(); m.Remote.Addr != addrOf(media) {
		t.Errorf("Media().Remote.Addr = %s, want %s", m.Remote.Addr, addrOf(media))
	}

	// The trunk itself still controls the call.
	bye := peerRequest(peer, sipmsg.BYE, inv, ok, cseq+1, nil)
	peer.Send(bye, env.addr)
	peer.ExpectResponse(bye, 200, 5*time.Second)
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk's BYE did not end the call")
	}
	var he *HangupError
	if !errors.As(call.Err(), &he) || he.By != Remote {
		t.Errorf("call.Err() = %v, want HangupError by remote", call.Err())
	}
}

// TestCancelFromElsewhere: a CANCEL matching a ringing inbound call's INVITE (same branch,
// Call-ID, tags and CSeq) from another address is answered 403 and the call keeps ringing; the
// trunk's own CANCEL then ends it (200 and 487).
func TestCancelFromElsewhere(t *testing.T) {
	peer, env := inboundUA(t, nil)
	branch := "z9hG4bK-cancel-" + newID()
	inv := peer.SendText(peer.InviteText(env.addr, "15557654321", branch, "cancel-"+newID()+"@test", faketrunk.PCMUSDP(40010, "sendrecv")), env.addr)
	peer.ExpectResponse(inv, 100, 5*time.Second)
	ic := awaitIncoming(t, env)
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	cancel := faketrunk.CancelOf(inv)

	s := faketrunk.NewWireAt(t, netip.MustParseAddr("127.0.0.2"))
	s.Send(cancel, env.addr)
	if res := s.Final(2 * time.Second); res == nil || res.StatusCode != 403 {
		t.Fatalf("stranger's CANCEL got %v, want 403", res)
	}
	select {
	case <-ic.Done():
		t.Fatalf("a stranger's CANCEL ended the ringing call: %v", ic.Cause())
	case <-time.After(300 * time.Millisecond):
	}
	if got := env.ua.Stats().ForeignInDialog; got != 1 {
		t.Errorf("Stats().ForeignInDialog = %d, want 1", got)
	}

	peer.Send(cancel, env.addr)
	peer.ExpectResponse(cancel, 200, 5*time.Second)
	res := peer.ExpectResponse(inv, 487, 5*time.Second)
	peer.Send(peer.ACKFailure(inv, res), env.addr)
	awaitCause(t, ic, ErrCanceled, "the trunk's CANCEL")
}
