package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/telephony"
)

// TestDialCancelCrossedBy200: we cancel a ringing call, but the trunk's 200 OK crosses our
// CANCEL. RFC 3261 section 9.1 and 15: the 200 must be acknowledged and the call ended with BYE.
func TestDialCancelCrossedBy200(t *testing.T) {
	peer, env := dialingUA(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dialed := dialAsync(ctx, env, DialRequest{Trunk: "carrier", To: "+15557654321"})

	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	peer.Send(peer.Reply(inv, 180, "Ringing", nil), env.addr)
	cancel()
	cnl := peer.ExpectRequest(sipmsg.CANCEL, 5*time.Second)
	cb, _ := cnl.Via().Params.Get("branch")
	ib, _ := inv.Via().Params.Get("branch")
	if cb != ib {
		t.Errorf("CANCEL branch %q differs from the INVITE's %q (RFC 3261 section 9.1)", cb, ib)
	}
	// The callee answered just before the CANCEL arrived: 200 to the INVITE, then 200 to the CANCEL, no 487.
	peer.Send(peer.Reply(inv, 200, "OK", faketrunk.PCMUSDP(40000, "sendrecv")), env.addr)
	peer.Send(sipmsg.NewResponseFromRequest(cnl, 200, "OK", nil), env.addr)

	ack := peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("ACK CSeq %d, want the INVITE's %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	if tag, _ := ack.To().Params.Get("tag"); tag != "peertag" {
		t.Errorf("ACK To tag %q, want peertag", tag)
	}
	bye := peer.ExpectRequest(sipmsg.BYE, 5*time.Second)
	if bye.Recipient.User != "peer" {
		t.Errorf("BYE Request-URI %s, want the 200's Contact", bye.Recipient.String())
	}
	peer.Send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)

	select {
	case r := <-dialed:
		if r.call != nil || !errors.Is(r.err, context.Canceled) {
			t.Errorf("Dial returned call %v and error %v, want no call and context.Canceled", r.call, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return")
	}
	if n := env.ua.ActiveCalls(); n != 0 {
		t.Errorf("%d calls still active", n)
	}
}

// TestInboundRetransmittedInvite: an INVITE sent twice (lost 100 Trying) is one call; the
// transaction layer absorbs the copy and repeats the last response.
func TestInboundRetransmittedInvite(t *testing.T) {
	peer, env := inboundUA(t, nil)
	text := peer.InviteText(env.addr, "15557654321", "z9hG4bK-retrans-1", "retrans-call@test", faketrunk.PCMUSDP(40002, "sendrecv"))
	inv := peer.SendText(text, env.addr)
	peer.ExpectResponse(inv, 100, 5*time.Second)
	peer.SendText(text, env.addr)
	peer.ExpectResponse(inv, 100, 5*time.Second)

	ic := awaitIncoming(t, env)
	select {
	case dup := <-env.incoming:
		t.Fatalf("retransmitted INVITE became a second call %s", dup.CallID())
	case <-time.After(300 * time.Millisecond):
	}
	if err := ic.Reject(486, "Busy Here"); err != nil {
		t.Fatalf("Reject: %v", err)
	}
	busy := peer.ExpectResponse(inv, 486, 5*time.Second)
	// A late copy of the INVITE gets the 486 again (RFC 3261 section 17.2.1), not a new call.
	peer.SendText(text, env.addr)
	peer.ExpectResponse(inv, 486, 5*time.Second)
	select {
	case dup := <-env.incoming:
		t.Fatalf("late INVITE copy became a call %s", dup.CallID())
	case <-time.After(300 * time.Millisecond):
	}
	peer.Send(peer.ACKFailure(inv, busy), env.addr)
	var se *StatusError
	if !errors.As(ic.Cause(), &se) || se.Code != 486 {
		t.Errorf("Cause() = %v, want StatusError 486", ic.Cause())
	}
}

// TestInboundLostAck: we answer, the trunk never ACKs. The 200 is retransmitted (RFC 3261
// section 13.3.1.4) and after 64*T1 the call is ended with a BYE and ErrAckTimeout.
func TestInboundLostAck(t *testing.T) {
	withTimers(t, 50*time.Millisecond) // 64*T1 = 3.2 s
	peer, env := inboundUA(t, nil)
	peer.SendText(peer.InviteText(env.addr, "15557654321", "z9hG4bK-lostack-1", "lostack-call@test", faketrunk.PCMUSDP(40004, "sendrecv")), env.addr)
	answered := answerAsync(t.Context(), awaitIncoming(t, env))
	oks := 0
	deadline := time.Now().Add(10 * time.Second)
	var bye *sipmsg.Request
	for bye == nil && time.Now().Before(deadline) {
		switch m := peer.Recv(time.Until(deadline)).(type) {
		case *sipmsg.Response:
			if m.StatusCode == 200 && m.CSeq().MethodName == sipmsg.INVITE {
				oks++
			}
		case *sipmsg.Request:
			if m.Method == sipmsg.BYE {
				bye = m
			}
		}
	}
	if bye == nil {
		t.Fatal("no BYE after the unacknowledged 200")
	}
	peer.Send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)
	if oks < 3 {
		t.Errorf("200 OK sent %d times, want retransmissions until the ACK timeout (>= 3)", oks)
	}
	select {
	case r := <-answered:
		if !errors.Is(r.err, ErrAckTimeout) {
			t.Errorf("Answer error %v, want ErrAckTimeout", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Answer did not return")
	}
}

// TestInboundLateOffer: an INVITE without SDP gets our offer in the 200 and the trunk's answer
// in the ACK sets the media (RFC 3261 section 13.2.1); an ACK without an answer ends the call.
func TestInboundLateOffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte
	}{
		{"answer in ACK", []byte("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40040 RTP/AVP 8\r\n")},
		{"ACK without answer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer, env := inboundUA(t, nil)
			inv := peer.SendText(peer.InviteText(env.addr, "15557654321", "z9hG4bK-late-1", "late-offer@test", nil), env.addr)
			answered := answerAsync(t.Context(), awaitIncoming(t, env))
			ok := peer.ExpectResponse(inv, 200, 5*time.Second)
			offer, err := ParseSDP(ok.Body())
			if err != nil {
				t.Fatalf("200 has no SDP offer: %v\n%s", err, ok.Body())
			}
			if len(offer.Codecs) != 2 || offer.Codecs[0] != telephony.PCMU || offer.Codecs[1] != telephony.PCMA {
				t.Errorf("offer codecs %v, want PCMU, PCMA", offer.Codecs)
			}
			ack := peer.ACKFor(inv, ok)
			if tc.answer != nil {
				ack.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
				ack.SetBody(tc.answer)
			}
			peer.Send(ack, env.addr)
			if tc.answer == nil {
				bye := peer.ExpectRequest(sipmsg.BYE, 5*time.Second)
				peer.Send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)
				if r := <-answered; !errors.Is(r.err, ErrNoAnswerInAck) {
					t.Fatalf("Answer: %v, want ErrNoAnswerInAck", r.err)
				}
				return
			}
			r := <-answered
			if r.err != nil {
				t.Fatalf("Answer: %v", r.err)
			}
			m := r.call.Media()
			if m.Codec != telephony.PCMA || m.Remote.Addr.Port() != 40040 || r.call.RTP().RemoteAddr().Port() != 40040 {
				t.Errorf("media %+v, RTP to %v; want PCMA to port 40040", m, r.call.RTP().RemoteAddr())
			}
			acceptHangup(t, peer, r.call, env.addr)
		})
	}
}
