package sip

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// stranger sends SIP requests from an address of its own (another loopback address, or the
// trunk's address over another transport) and reads the answers.
type stranger struct {
	t       *testing.T
	network string // "udp" or "tcp"
	conn    net.Conn
	addr    netip.AddrPort
	reader  *bufio.Reader
}

// newStranger connects from laddr (port 0) to dst over network.
func newStranger(t *testing.T, network, laddr string, dst netip.AddrPort) *stranger {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	switch network {
	case "udp":
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(laddr)}
	default:
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
	}
	c, err := d.Dial(network, dst.String())
	if err != nil {
		t.Fatalf("stranger dial %s from %s: %v", network, laddr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ap, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return &stranger{t: t, network: network, conn: c, addr: ap, reader: bufio.NewReader(c)}
}

// send rewrites req's Via to the stranger's own address and transport and sends it.
func (s *stranger) send(req *sipmsg.Request) {
	s.t.Helper()
	req = req.Clone()
	req.RemoveHeader("Via")
	req.PrependHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/%s %s;branch=z9hG4bK-stranger-%d",
		strings.ToUpper(s.network), s.addr, time.Now().UnixNano())))
	if _, err := s.conn.Write([]byte(req.String())); err != nil {
		s.t.Fatalf("stranger send: %v", err)
	}
}

// final returns the first final response the stranger receives within d, nil when none.
func (s *stranger) final(d time.Duration) *sipmsg.Response {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = s.conn.SetReadDeadline(deadline)
		var data []byte
		if s.network == "udp" {
			buf := make([]byte, 65535)
			n, err := s.conn.Read(buf)
			if err != nil {
				return nil
			}
			data = buf[:n]
		} else {
			var err error
			if data, err = readStreamMessage(s.reader); err != nil {
				return nil
			}
		}
		m, err := sipmsg.ParseMessage(data)
		if err != nil {
			s.t.Fatalf("stranger got an unparsable message: %v\n%s", err, data)
		}
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}
	return nil
}

// readStreamMessage reads one SIP message (headers and Content-Length bytes of body) from r.
func readStreamMessage(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		msg = append(msg, line...)
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			_, _ = fmt.Sscan(strings.TrimSpace(value), &length)
		}
		if line == "\r\n" && len(msg) > 2 {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(msg, body...), nil
}

// TestInDialogRequestsFromElsewhere: with a call established through a trunk at 127.0.0.1 over
// UDP, requests carrying the dialog's Call-ID and tags sent from another address (127.0.0.2),
// or from the trunk's address over TCP, are answered 403 and change nothing: the call stays up,
// reports no event, and its RTP still goes to the trunk's media address and not to the sender's.
func TestInDialogRequestsFromElsewhere(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{
		Trunks: []Trunk{peer.trunk()},
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"},
		},
	})
	tcpAddr, _ := env.ua.ListenAddr(telephony.TransportTCP)
	media := newPeer(t)   // the trunk's RTP socket
	hijack := newPeer2(t) // where the stranger wants the audio
	call, inv, ok := dialPeer(t, env, peer, int(addrOf(media).Port()))
	want := call.RTP().RemoteAddr()
	if want != addrOf(media) {
		t.Fatalf("call sends RTP to %s, want %s", want, addrOf(media))
	}
	hijackSDP := []byte(strings.ReplaceAll(string(peerSDP(int(addrOf(hijack).Port()), "sendrecv")), "127.0.0.1", "127.0.0.2"))

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
			s := newStranger(t, tc.network, tc.from, tc.dst)
			cseq++
			req := peer.peerRequest(tc.method, inv, ok, cseq, tc.body)
			s.send(req)
			res := s.final(2 * time.Second)
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
	bye := peer.peerRequest(sipmsg.BYE, inv, ok, cseq+1, nil)
	peer.sendTo(bye, env.addr)
	peer.expectResponse(bye, 200, 5*time.Second)
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

// newPeer2 binds a UDP socket on 127.0.0.2.
func newPeer2(tb testing.TB) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCancelFromElsewhere: a CANCEL matching a ringing inbound call's INVITE (same branch,
// Call-ID, tags and CSeq) from another address is answered 403 and the call keeps ringing; the
// trunk's own CANCEL then ends it (200 and 487).
func TestCancelFromElsewhere(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	branch := "z9hG4bK-cancel-" + newID()
	inv := peer.sendRaw(peer.inviteText(env.addr, branch, "cancel-"+newID()+"@test", peerSDP(40010, "sendrecv")), env.addr)
	peer.expectResponse(inv, 100, 5*time.Second)
	ic := awaitIncoming(t, env)
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	cancel := sipmsg.NewRequest(sipmsg.CANCEL, inv.Recipient)
	cancel.AppendHeader(inv.Via().Clone())
	cancel.AppendHeader(inv.From())
	cancel.AppendHeader(inv.To())
	cancel.AppendHeader(inv.CallID())
	cancel.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sipmsg.CANCEL})
	cancel.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	cancel.SetBody(nil)

	s := newStranger(t, "udp", "127.0.0.2", env.addr)
	if _, err := s.conn.Write([]byte(cancel.String())); err != nil {
		t.Fatal(err)
	}
	if res := s.final(2 * time.Second); res == nil || res.StatusCode != 403 {
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

	peer.sendTo(cancel, env.addr)
	peer.expectResponse(cancel, 200, 5*time.Second)
	res := peer.expectResponse(inv, 487, 5*time.Second)
	peer.sendTo(peer.ackFailure(inv, res), env.addr)
	select {
	case <-ic.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk's CANCEL did not end the call")
	}
	if !errors.Is(ic.Cause(), ErrCanceled) {
		t.Errorf("Cause() = %v, want ErrCanceled", ic.Cause())
	}
}
