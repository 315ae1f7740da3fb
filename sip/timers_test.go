package sip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestSessionTimerWeRefresh: the trunk's 2xx makes us the refresher (RFC 4028 section 7.2) of a
// 2 s session; we send a re-INVITE with the unchanged SDP after half of it and ACK its 2xx.
func TestSessionTimerWeRefresh(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: int(peer.addr.Port())}}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	type result struct {
		call *Call
		err  error
	}
	dialed := make(chan result, 1)
	go func() {
		c, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
		dialed <- result{c, err}
	}()
	inv := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	if !hasOptionTag(inv, "Supported", "timer") || headerValue(inv, "Session-Expires") != "1800" {
		t.Errorf("INVITE Supported %q Session-Expires %q, want timer and 1800", headerValue(inv, "Supported"), headerValue(inv, "Session-Expires"))
	}
	ok := peer.reply(inv, 200, "OK", peerSDP(40010, "sendrecv"))
	ok.AppendHeader(sipmsg.NewHeader("Session-Expires", "2;refresher=uac"))
	ok.AppendHeader(sipmsg.NewHeader("Require", "timer"))
	answeredAt := time.Now()
	peer.sendTo(ok, env.addr)
	peer.expectRequest(sipmsg.ACK, 5*time.Second)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}

	re := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	if d := time.Since(answeredAt); d < 800*time.Millisecond || d > 1800*time.Millisecond {
		t.Errorf("refresh after %v, want about half of 2 s", d)
	}
	if se := headerValue(re, "Session-Expires"); se != "2;refresher=uac" {
		t.Errorf("refresh Session-Expires %q, want 2;refresher=uac", se)
	}
	if !bytes.Equal(re.Body(), inv.Body()) {
		t.Errorf("refresh SDP differs from the offer:\n%s\nvs\n%s", re.Body(), inv.Body())
	}
	if re.CSeq().SeqNo <= inv.CSeq().SeqNo {
		t.Errorf("refresh CSeq %d not above %d", re.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	if tag, _ := re.To().Params.Get("tag"); tag != "peertag" {
		t.Errorf("refresh To tag %q, want peertag", tag)
	}
	ok2 := sipmsg.NewResponseFromRequest(re, 200, "OK", peerSDP(40010, "sendrecv"))
	ok2.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	ok2.AppendHeader(sipmsg.NewHeader("Session-Expires", "2;refresher=uac"))
	ok2.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: int(peer.addr.Port())}})
	peer.sendTo(ok2, env.addr)
	ack := peer.expectRequest(sipmsg.ACK, 5*time.Second)
	if ack.CSeq().SeqNo != re.CSeq().SeqNo {
		t.Errorf("ACK CSeq %d, want the refresh's %d", ack.CSeq().SeqNo, re.CSeq().SeqNo)
	}
	select {
	case <-r.call.Done():
		t.Fatalf("call ended after the refresh: %v", r.call.Err())
	default:
	}
	byeAnswered := peer.answerBye(env.addr)
	if err := r.call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE: %v", err)
	}
}

// TestSessionTimerExpires: an inbound call with a 2 s session refreshed by the trunk
// (refresher=uac). One refresh keeps it up; without the next, we end it with a BYE
// (RFC 4028 section 10). In-dialog OPTIONS are answered meanwhile.
func TestSessionTimerExpires(t *testing.T) {
	peer := newRawPeer(t)
	env := startUAWith(t, Config{Trunks: []Trunk{inboundTrunk()}}, func(ua *UA) { ua.cfg.MinSE = time.Second })
	sdp := peerSDP(40012, "sendrecv")
	text := peer.inviteText(env.addr, "z9hG4bK-st-1", "session-timer@test", sdp)
	text = strings.Replace(text, "Max-Forwards: 70\n", "Max-Forwards: 70\nSupported: timer\nSession-Expires: 2\n", 1)
	peer.sendRaw(text, env.addr)
	ic := <-env.incoming
	answered := make(chan *Call, 1)
	go func() {
		c, err := ic.Answer(context.Background())
		if err != nil {
			c = nil
		}
		answered <- c
	}()
	ok := peer.expectResponse(200, sipmsg.INVITE, 5*time.Second)
	if se := headerValue(ok, "Session-Expires"); se != "2;refresher=uac" || !hasOptionTag(ok, "Require", "timer") {
		t.Errorf("200 Session-Expires %q Require %q, want 2;refresher=uac and timer", se, headerValue(ok, "Require"))
	}
	msg, _ := sipmsg.ParseMessage([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	inv := msg.(*sipmsg.Request)
	peer.sendTo(peer.ackFor(inv, ok), env.addr)
	call := <-answered
	if call == nil {
		t.Fatal("Answer failed")
	}

	peer.sendTo(peer.inDialog(sipmsg.OPTIONS, inv, ok, 8, nil), env.addr)
	if res := peer.expectResponse(200, sipmsg.OPTIONS, 5*time.Second); !strings.Contains(headerValue(res, "Allow"), "INVITE") {
		t.Errorf("in-dialog OPTIONS answer lacks Allow: %q", headerValue(res, "Allow"))
	}

	time.Sleep(700 * time.Millisecond)
	refresh := peer.inDialog(sipmsg.INVITE, inv, ok, 9, sdp)
	refresh.AppendHeader(sipmsg.NewHeader("Session-Expires", "2;refresher=uac"))
	refresh.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	refreshedAt := time.Now()
	peer.sendTo(refresh, env.addr)
	ok2 := peer.expectResponse(200, sipmsg.INVITE, 5*time.Second)
	if ok2.CSeq().SeqNo != 9 || headerValue(ok2, "Session-Expires") != "2;refresher=uac" {
		t.Errorf("refresh answer CSeq %d Session-Expires %q", ok2.CSeq().SeqNo, headerValue(ok2, "Session-Expires"))
	}
	peer.sendTo(peer.ackFor(refresh, ok2), env.addr)

	bye := peer.expectRequest(sipmsg.BYE, 5*time.Second)
	peer.sendTo(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)
	// 2 s minus min(32 s, 2 s/3) after the refresh.
	if d := time.Since(refreshedAt); d < 1200*time.Millisecond {
		t.Errorf("BYE %v after the refresh, want about 1.33 s", d)
	}
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("call not ended")
	}
	if !errors.Is(call.Err(), ErrSessionExpired) {
		t.Errorf("call.Err() = %v, want ErrSessionExpired", call.Err())
	}
}

// TestDialRetriesAfter422: a 422 with Min-SE (RFC 4028 section 7.4) makes us send the INVITE
// again, in the same dialog with the next CSeq, asking for the trunk's minimum.
func TestDialRetriesAfter422(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: int(peer.addr.Port())}}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	type result struct {
		call *Call
		err  error
	}
	dialed := make(chan result, 1)
	go func() {
		c, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
		dialed <- result{c, err}
	}()
	first := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	tooSmall := sipmsg.NewResponseFromRequest(first, 422, "Session Interval Too Small", nil)
	tooSmall.AppendHeader(sipmsg.NewHeader("Min-SE", "3600"))
	peer.sendTo(tooSmall, env.addr)
	second := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	if second.CallID().Value() != first.CallID().Value() || second.CSeq().SeqNo != first.CSeq().SeqNo+1 {
		t.Errorf("retry Call-ID %s CSeq %d, want %s and %d", second.CallID().Value(), second.CSeq().SeqNo, first.CallID().Value(), first.CSeq().SeqNo+1)
	}
	if se := headerValue(second, "Session-Expires"); se != "3600" {
		t.Errorf("retry Session-Expires %q, want 3600", se)
	}
	peer.sendTo(peer.reply(second, 200, "OK", peerSDP(40050, "sendrecv")), env.addr)
	if ack := peer.expectRequest(sipmsg.ACK, 5*time.Second); ack.CSeq().SeqNo != second.CSeq().SeqNo {
		ack = peer.expectRequest(sipmsg.ACK, 5*time.Second) // the first was the 422's
		if ack.CSeq().SeqNo != second.CSeq().SeqNo {
			t.Errorf("ACK CSeq %d, want %d", ack.CSeq().SeqNo, second.CSeq().SeqNo)
		}
	}
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial after 422: %v", r.err)
	}
	byeAnswered := peer.answerBye(env.addr)
	if err := r.call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE: %v", err)
	}
}
