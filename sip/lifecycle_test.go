package sip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/telephony"
)

// TestDialCancelSendsCancel: cancelling Dial's context while the trunk rings sends CANCEL
// (RFC 3261 section 9.1); the trunk's 487 ends the attempt and Dial returns context.Canceled.
func TestDialCancelSendsCancel(t *testing.T) {
	peer, env := dialingUA(t)
	ctx, cancel := context.WithCancel(context.Background())
	ringing := make(chan struct{})
	dialed := dialAsync(ctx, env, DialRequest{Trunk: "carrier", To: "+15557654321", OnProgress: func(p Progress) {
		if p.StatusCode == 180 {
			close(ringing)
		}
	}})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	peer.Send(peer.Reply(inv, 180, "Ringing", nil), env.addr)
	select {
	case <-ringing: // CANCEL is allowed once a provisional response arrived (RFC 3261 section 9.1)
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not report the 180")
	}
	cancel()
	cnl := peer.ExpectRequest(sipmsg.CANCEL, 5*time.Second)
	if cnl.CSeq().SeqNo != inv.CSeq().SeqNo || cnl.Recipient.String() != inv.Recipient.String() {
		t.Errorf("CANCEL %s CSeq %d does not match INVITE %s CSeq %d", cnl.Recipient.String(), cnl.CSeq().SeqNo, inv.Recipient.String(), inv.CSeq().SeqNo)
	}
	peer.Send(sipmsg.NewResponseFromRequest(cnl, 200, "OK", nil), env.addr)
	peer.Send(peer.Reply(inv, 487, "Request Terminated", nil), env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	select {
	case r := <-dialed:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Dial error %v, want context.Canceled", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return after CANCEL")
	}
}

// TestMaxCalls: with MaxCalls 1 a second Dial fails with ErrTooManyCalls and an inbound INVITE gets 503.
func TestMaxCalls(t *testing.T) {
	peer, env := dialingUAWith(t, func(tr *Trunk) { tr.MaxCalls = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	dialed := dialAsync(ctx, env, DialRequest{Trunk: "carrier", To: "+15557654321"})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	peer.Send(peer.Reply(inv, 180, "Ringing", nil), env.addr)

	if _, err := env.ua.Dial(context.Background(), DialRequest{Trunk: "carrier", To: "+15557654322"}); !errors.Is(err, ErrTooManyCalls) {
		t.Errorf("second Dial: %v, want ErrTooManyCalls", err)
	}
	over := peer.SendText(peer.InviteText(env.addr, "15557654321", "z9hG4bK-max-1", "max-calls@test", faketrunk.PCMUSDP(40020, "sendrecv")), env.addr)
	peer.ExpectResponse(over, 503, 5*time.Second)

	cancel()
	cnl := peer.ExpectRequest(sipmsg.CANCEL, 5*time.Second)
	peer.Send(sipmsg.NewResponseFromRequest(cnl, 200, "OK", nil), env.addr)
	peer.Send(peer.Reply(inv, 487, "Request Terminated", nil), env.addr)
	if r := <-dialed; !errors.Is(r.err, context.Canceled) {
		t.Errorf("first Dial: %v, want context.Canceled", r.err)
	}
}

// TestShutdownHangsUp: cancelling Serve's context ends established calls with a BYE, new
// Dials fail, and Serve returns with every port released (checked by startUA's cleanup).
func TestShutdownHangsUp(t *testing.T) {
	peer, env := dialingUA(t)
	call, _, _ := dialPeer(t, env, peer, 40030)
	byeAnswered := peer.AnswerBye(env.addr)
	env.shutdown()
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE at shutdown: %v", err)
	}
	if !errors.Is(call.Err(), ErrShuttingDown) {
		t.Errorf("call.Err() = %v, want ErrShuttingDown", call.Err())
	}
	if _, err := env.ua.Dial(t.Context(), DialRequest{Trunk: "carrier", To: "+15557654321"}); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Dial after shutdown: %v, want ErrShuttingDown", err)
	}
}

// TestDialOverTCP places the echo call over a TCP listener and trunk.
func TestDialOverTCP(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_echo.xml", Echo: true, Extra: []string{"-t", "t1"}})
	tr := sippTrunk(s)
	tr.Transport = telephony.TransportTCP
	env := startUA(t, Config{
		Listeners: []Listener{{Transport: telephony.TransportTCP, Addr: "127.0.0.1:0"}},
		Trunks:    []Trunk{tr},
	})
	call, ctx := sippDial(t, s, env, DialRequest{})
	echoTone(t, call.RTP(), 1000)
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	s.Wait(10 * time.Second)
	tcpAddr, _ := env.ua.ListenAddr(telephony.TransportTCP)
	inv := s.MustReceive("INVITE ")
	if via := inv.Header("Via"); !strings.HasPrefix(via, "SIP/2.0/TCP "+tcpAddr.String()) {
		t.Errorf("Via %q, want SIP/2.0/TCP %s", via, tcpAddr)
	}
	if ct := inv.Header("Contact"); !strings.Contains(ct, "transport=tcp") {
		t.Errorf("Contact %q, want transport=tcp", ct)
	}
	s.MustReceive("BYE ")
}
