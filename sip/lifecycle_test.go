package sip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestDialCancelSendsCancel: cancelling Dial's context while the trunk rings sends CANCEL
// (RFC 3261 section 9.1); the trunk's 487 ends the attempt and Dial returns context.Canceled.
func TestDialCancelSendsCancel(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: int(peer.addr.Port())}}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
		errc <- err
	}()
	inv := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	peer.sendTo(peer.reply(inv, 180, "Ringing", nil), env.addr)
	time.Sleep(100 * time.Millisecond)
	cancel()
	cnl := peer.expectRequest(sipmsg.CANCEL, 5*time.Second)
	if cnl.CSeq().SeqNo != inv.CSeq().SeqNo || cnl.Recipient.String() != inv.Recipient.String() {
		t.Errorf("CANCEL %s CSeq %d does not match INVITE %s CSeq %d", cnl.Recipient.String(), cnl.CSeq().SeqNo, inv.Recipient.String(), inv.CSeq().SeqNo)
	}
	peer.sendTo(sipmsg.NewResponseFromRequest(cnl, 200, "OK", nil), env.addr)
	peer.sendTo(peer.reply(inv, 487, "Request Terminated", nil), env.addr)
	peer.expectRequest(sipmsg.ACK, 5*time.Second)
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Dial error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return after CANCEL")
	}
}

// TestMaxCalls: with MaxCalls 1 a second Dial fails with ErrTooManyCalls and an inbound INVITE gets 503.
func TestMaxCalls(t *testing.T) {
	peer := newRawPeer(t)
	tr := Trunk{Name: "carrier", Host: "127.0.0.1", Port: int(peer.addr.Port()), MaxCalls: 1}
	env := startUA(t, Config{Trunks: []Trunk{tr}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
		errc <- err
	}()
	inv := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	peer.sendTo(peer.reply(inv, 180, "Ringing", nil), env.addr)

	if _, err := env.ua.Dial(context.Background(), DialRequest{Trunk: "carrier", To: "+15557654322"}); !errors.Is(err, ErrTooManyCalls) {
		t.Errorf("second Dial: %v, want ErrTooManyCalls", err)
	}
	peer.sendRaw(peer.inviteText(env.addr, "z9hG4bK-max-1", "max-calls@test", peerSDP(40020, "sendrecv")), env.addr)
	peer.expectResponse(503, sipmsg.INVITE, 5*time.Second)

	cancel()
	cnl := peer.expectRequest(sipmsg.CANCEL, 5*time.Second)
	peer.sendTo(sipmsg.NewResponseFromRequest(cnl, 200, "OK", nil), env.addr)
	peer.sendTo(peer.reply(inv, 487, "Request Terminated", nil), env.addr)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("first Dial: %v, want context.Canceled", err)
	}
}

// TestShutdownHangsUp: cancelling Serve's context ends established calls with a BYE, new
// Dials fail, and Serve returns with every port released (checked by startUA's cleanup).
func TestShutdownHangsUp(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: int(peer.addr.Port())}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialed := make(chan *Call, 1)
	go func() {
		c, _ := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
		dialed <- c
	}()
	inv := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	peer.sendTo(peer.reply(inv, 200, "OK", peerSDP(40030, "sendrecv")), env.addr)
	peer.expectRequest(sipmsg.ACK, 5*time.Second)
	call := <-dialed
	if call == nil {
		t.Fatal("Dial failed")
	}
	byeAnswered := peer.answerBye(env.addr)
	env.shutdown()
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE at shutdown: %v", err)
	}
	if !errors.Is(call.Err(), ErrShuttingDown) {
		t.Errorf("call.Err() = %v, want ErrShuttingDown", call.Err())
	}
	if _, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"}); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Dial after shutdown: %v, want ErrShuttingDown", err)
	}
}

// TestDialOverTCP places the echo call over a TCP listener and trunk.
func TestDialOverTCP(t *testing.T) {
	s := startSipp(t, sippOptions{scenario: "uas_echo.xml", echo: true, extra: []string{"-t", "t1"}})
	tr := sippTrunk(s)
	tr.Transport = telephony.TransportTCP
	env := startUA(t, Config{
		Listeners: []Listener{{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"}},
		Trunks:    []Trunk{tr},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var call *Call
	var err error
	for range 20 { // sipp accepts TCP connections a moment after it starts
		if call, err = env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Dial over TCP: %v\n%s", err, s.output())
	}
	sendCtx, stop := context.WithCancel(ctx)
	go func() { _ = sendTone(sendCtx, call.RTP(), toneFrames(1000, 100)) }()
	samples := receiveAudio(call.RTP(), 3*time.Second, 8000)
	stop()
	assertTone(t, samples, 1000)
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	s.wait(10 * time.Second)
	tcpAddr, _ := env.ua.ListenAddr(telephony.TransportTCP)
	inv := s.mustReceive("INVITE ")
	if via := inv.header("Via"); !strings.HasPrefix(via, "SIP/2.0/TCP "+tcpAddr.String()) {
		t.Errorf("Via %q, want SIP/2.0/TCP %s", via, tcpAddr)
	}
	if ct := inv.header("Contact"); !strings.Contains(ct, "transport=tcp") {
		t.Errorf("Contact %q, want transport=tcp", ct)
	}
	s.mustReceive("BYE ")
}
