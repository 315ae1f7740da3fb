package sip

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// TestSessionTimerWeRefresh: the trunk's 2xx makes us the refresher (RFC 4028 section 7.2) of a
// 2 s session; we send a re-INVITE with the unchanged SDP after half of it and ACK its 2xx.
func TestSessionTimerWeRefresh(t *testing.T) {
	peer, env := dialingUA(t)
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321"})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	if !hasOptionTag(inv, "Supported", "timer") || headerValue(inv, "Session-Expires") != "1800" {
		t.Errorf("INVITE Supported %q Session-Expires %q, want timer and 1800", headerValue(inv, "Supported"), headerValue(inv, "Session-Expires"))
	}
	ok := peer.Reply(inv, 200, "OK", faketrunk.PCMUSDP(40010, "sendrecv"))
	ok.AppendHeader(sipmsg.NewHeader("Session-Expires", "2;refresher=uac"))
	ok.AppendHeader(sipmsg.NewHeader("Require", "timer"))
	answeredAt := time.Now()
	peer.Send(ok, env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}

	re := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	// The timer starts when the 2xx arrives, after answeredAt, and never fires early; the
	// refresh must come before the session expires. TestSessionTimerDue checks the schedule
	// exactly.
	if d := time.Since(answeredAt); d < time.Second || d >= 2*time.Second {
		t.Errorf("refresh after %v, want half of 2 s", d)
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
	ok2 := peer.Reply(re, 200, "OK", faketrunk.PCMUSDP(40010, "sendrecv"))
	ok2.AppendHeader(sipmsg.NewHeader("Session-Expires", "2;refresher=uac"))
	peer.Send(ok2, env.addr)
	ack := peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	if ack.CSeq().SeqNo != re.CSeq().SeqNo {
		t.Errorf("ACK CSeq %d, want the refresh's %d", ack.CSeq().SeqNo, re.CSeq().SeqNo)
	}
	select {
	case <-r.call.Done():
		t.Fatalf("call ended after the refresh: %v", r.call.Err())
	default:
	}
	acceptHangup(t, peer, r.call, env.addr)
}

// TestSessionTimerExpires: an inbound call with a 6 s session refreshed by the trunk
// (refresher=uac). One refresh keeps it up; without the next, we end it with a BYE 6 s minus
// min(32 s, 6 s/3) after the refresh (RFC 4028 section 10). In-dialog OPTIONS are answered
// meanwhile. The trunk refreshes a third into the session: a loaded machine has two seconds to
// handle the refresh before the session would expire, and a BYE that ignored the refresh would
// come two seconds early.
func TestSessionTimerExpires(t *testing.T) {
	peer := newWirePeer(t)
	env := startUAWith(t, Config{Trunks: []Trunk{inboundTrunk()}}, func(ua *UA) { ua.cfg.MinSE = time.Second })
	sdp := faketrunk.PCMUSDP(40012, "sendrecv")
	text := peer.InviteText(env.addr, "15557654321", "z9hG4bK-st-1", "session-timer@test", sdp)
	text = strings.Replace(text, "Max-Forwards: 70\n", "Max-Forwards: 70\nSupported: timer\nSession-Expires: 6\n", 1)
	inv := peer.SendText(text, env.addr)
	answered := answerAsync(t.Context(), awaitIncoming(t, env))
	ok := peer.ExpectResponse(inv, 200, 5*time.Second)
	if se := headerValue(ok, "Session-Expires"); se != "6;refresher=uac" || !hasOptionTag(ok, "Require", "timer") {
		t.Errorf("200 Session-Expires %q Require %q, want 6;refresher=uac and timer", se, headerValue(ok, "Require"))
	}
	ackedAt := time.Now() // the session starts when the ACK arrives, after this
	peer.Send(peer.ACKFor(inv, ok), env.addr)
	r := <-answered
	if r.err != nil {
		t.Fatalf("Answer: %v", r.err)
	}

	options := peer.InDialog(sipmsg.OPTIONS, inv, ok, 8, nil)
	peer.Send(options, env.addr)
	if res := peer.ExpectResponse(options, 200, 5*time.Second); !strings.Contains(headerValue(res, "Allow"), "INVITE") {
		t.Errorf("in-dialog OPTIONS answer lacks Allow: %q", headerValue(res, "Allow"))
	}

	time.Sleep(time.Until(ackedAt.Add(2 * time.Second)))
	refresh := peer.InDialog(sipmsg.INVITE, inv, ok, 9, sdp)
	refresh.AppendHeader(sipmsg.NewHeader("Session-Expires", "6;refresher=uac"))
	refresh.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	refreshedAt := time.Now()
	peer.Send(refresh, env.addr)
	ok2 := peer.ExpectResponse(refresh, 200, 5*time.Second)
	if se := headerValue(ok2, "Session-Expires"); se != "6;refresher=uac" {
		t.Errorf("refresh answer Session-Expires %q, want 6;refresher=uac", se)
	}
	peer.Send(peer.ACKFor(refresh, ok2), env.addr)

	bye := peer.ExpectRequest(sipmsg.BYE, 10*time.Second)
	peer.Send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)
	// The refresh restarted the timer, which never fires early; without the restart the BYE
	// would come about 2 s after the refresh.
	if d := time.Since(refreshedAt); d < 4*time.Second {
		t.Errorf("BYE %v after the refresh, want 4 s (6 s minus 2 s) or a little more", d)
	}
	select {
	case <-r.call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("call not ended")
	}
	if !errors.Is(r.call.Err(), ErrSessionExpired) {
		t.Errorf("call.Err() = %v, want ErrSessionExpired", r.call.Err())
	}
}

// TestDialRetriesAfter422: a 422 with Min-SE (RFC 4028 section 7.4) makes us send the INVITE
// again, in the same dialog with the next CSeq, asking for the trunk's minimum.
func TestDialRetriesAfter422(t *testing.T) {
	peer, env := dialingUA(t)
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321"})
	first := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	tooSmall := sipmsg.NewResponseFromRequest(first, 422, "Session Interval Too Small", nil)
	tooSmall.AppendHeader(sipmsg.NewHeader("Min-SE", "3600"))
	peer.Send(tooSmall, env.addr)
	second := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	if second.CallID().Value() != first.CallID().Value() || second.CSeq().SeqNo != first.CSeq().SeqNo+1 {
		t.Errorf("retry Call-ID %s CSeq %d, want %s and %d", second.CallID().Value(), second.CSeq().SeqNo, first.CallID().Value(), first.CSeq().SeqNo+1)
	}
	if se := headerValue(second, "Session-Expires"); se != "3600" {
		t.Errorf("retry Session-Expires %q, want 3600", se)
	}
	peer.Send(peer.Reply(second, 200, "OK", faketrunk.PCMUSDP(40050, "sendrecv")), env.addr)
	if ack := peer.ExpectRequest(sipmsg.ACK, 5*time.Second); ack.CSeq().SeqNo != second.CSeq().SeqNo {
		ack = peer.ExpectRequest(sipmsg.ACK, 5*time.Second) // the first was the 422's
		if ack.CSeq().SeqNo != second.CSeq().SeqNo {
			t.Errorf("ACK CSeq %d, want %d", ack.CSeq().SeqNo, second.CSeq().SeqNo)
		}
	}
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial after 422: %v", r.err)
	}
	acceptHangup(t, peer, r.call, env.addr)
}

// TestSessionTimerDue: the refresher refreshes at half the session interval; the other side
// ends the session at the interval minus min(32 s, interval/3) (RFC 4028 section 10).
func TestSessionTimerDue(t *testing.T) {
	for _, tc := range []struct {
		interval  time.Duration
		refresher Party
		want      time.Duration
	}{
		{2 * time.Second, Local, time.Second},
		{1800 * time.Second, Local, 900 * time.Second},
		{2 * time.Second, Remote, 2*time.Second - 2*time.Second/3},
		{90 * time.Second, Remote, 60 * time.Second},
		{1800 * time.Second, Remote, 1768 * time.Second},
	} {
		st := sessionTimer{interval: tc.interval, refresher: tc.refresher}
		if got := st.due(); got != tc.want {
			t.Errorf("interval %v refresher %v: due %v, want %v", tc.interval, tc.refresher, got, tc.want)
		}
	}
}
