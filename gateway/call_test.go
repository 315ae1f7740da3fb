package gateway

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// secondOfAudio is one second of 8 kHz audio, in samples.
const secondOfAudio = 8000

func TestOutboundCallAudioDTMFAndHangup(t *testing.T) {
	e := newEnv(t, testConfig{})
	b := login(t, e, "alice")
	c := dial(t, b, "c1", "5550123")
	tc := e.trunk.NextCall(t)
	if got := tc.Number(); got != "+15550123" {
		t.Errorf("trunk was called for %q, want +15550123", got)
	}
	if got := tc.Invite().From().Address.User; got != "+15550100" {
		t.Errorf("caller ID %q, want alice's +15550100", got)
	}
	expectProgress[signaling.Connected](t, b)

	// Each side hears the other's tone, not its own.
	testcodec.AssertTone(t, tc.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	testcodec.AssertTone(t, c.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

	// DTMF both ways.
	b.Send(t, signaling.DTMF{CallID: "c1", Digits: "5#"})
	tc.Media().SendDigits("7")
	if d := expect[signaling.DTMFEvent](t, b); d.Digit != "7" || d.CallID != "c1" {
		t.Errorf("dtmf %+v, want 7 on c1", d)
	}
	tc.Heard().WaitDigits(t, "5#")

	// Hold: the trunk hears silence; resume: the tone again. Each is
	// measured over half a second of packets from the first one that
	// changed, however late they arrive.
	b.Send(t, signaling.Hold{CallID: "c1"})
	held := tc.Heard().WaitChange(t, "silence", tc.Heard().Len(), secondOfAudio/2, ear.Silent)
	for i, x := range held {
		if x > 100 || x < -100 {
			t.Fatalf("trunk hears sample %d = %d while held", i, x)
		}
	}
	// The trunk was put on hold with a re-INVITE (a=sendonly, RFC 3264 section 8.4).
	if offer := tc.WaitReinvite(t); offer.Direction != faketrunk.SendOnly {
		t.Errorf("the gateway's offer while held is %s, want sendonly", offer.Direction)
	}
	b.Send(t, signaling.Resume{CallID: "c1"})
	mark := tc.Heard().Len()
	resume := tc.WaitReinvite(t)
	resumed := tc.Heard().WaitChange(t, "the tone after resume", mark, secondOfAudio/2, func(frame []int16) bool { return !ear.Silent(frame) })
	testcodec.AssertTone(t, resumed, 440, 1000)
	if resume.Direction != faketrunk.SendRecv {
		t.Errorf("the gateway's offer after resume is %s, want sendrecv", resume.Direction)
	}

	b.Send(t, signaling.Hangup{CallID: "c1"})
	h := expect[signaling.HangupEvent](t, b)
	if h.CallID != "c1" || h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	e.logs.WaitLine(t, "call ended")
}

func TestOutboundRefusals(t *testing.T) {
	e := newEnv(t, testConfig{maxCalls: 1})
	b := newTab(t, e)
	// Nothing but auth before authentication.
	b.Send(t, signaling.Ping{Ref: "p"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeOutOfOrder || r.Ref != "p" {
		t.Errorf("ping before auth: %+v", r)
	}
	sdp := offer(t)
	b.Send(t, signaling.Dial{ID: "x0", To: "+15550123", SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeOutOfOrder {
		t.Errorf("dial before auth: %+v", r)
	}
	b.Send(t, signaling.Auth{Version: signaling.Version, User: "alice", Password: "wrong"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeUnauthorized {
		t.Errorf("bad password: %+v", r)
	}
	b.Login(t, "alice", testPassword)
	b.Send(t, signaling.Ping{Ref: "p2"})
	if p := expect[signaling.Pong](t, b); p.Ref != "p2" {
		t.Errorf("pong ref %q", p.Ref)
	}

	tests := []struct {
		name string
		to   string
		code signaling.Code
	}{
		{"denied number", "+15559990000", signaling.CodeForbiddenNumber},
		{"not a number", "12", signaling.CodeInvalidNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.Send(t, signaling.Dial{ID: "d-" + string(tt.code), To: tt.to, SDP: sdp, Ref: "r1"})
			r := expect[signaling.ErrorReply](t, b)
			if r.Code != tt.code || r.CallID != "d-"+string(tt.code) || r.Ref != "r1" {
				t.Fatalf("reply %+v, want %s", r, tt.code)
			}
		})
	}
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 0 {
		t.Fatalf("the trunk got %d INVITEs for refused dials", n)
	}

	// The call limit counts calls in progress.
	e.trunk.SetPlan(faketrunk.Plan{RingForever: true})
	dial(t, b, "c1", "+15550123")
	expectProgress[signaling.Ringing](t, b)
	sdp2 := offer(t)
	b.Send(t, signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp2})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeTooManyCalls {
		t.Errorf("second call: %+v, want too_many_calls", r)
	}
	// Hang-up while ringing cancels the INVITE.
	b.Send(t, signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonLocalHangup {
		t.Errorf("hangup %+v", h)
	}
	e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndCancelled)
	b.Send(t, signaling.Hangup{CallID: "c1"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNotFound {
		t.Errorf("hangup of an ended call: %+v", r)
	}
}

func TestOutboundBusyAndRemoteHangup(t *testing.T) {
	e := newEnv(t, testConfig{})
	b := login(t, e, "alice")

	e.trunk.SetPlan(faketrunk.Plan{Reject: 486})
	dial(t, b, "busy", "+15550123")
	h := expectProgress[signaling.HangupEvent](t, b)
	if h.Reason != signaling.ReasonBusy || h.SIPCode != 486 || h.SIPReason != "Busy Here" {
		t.Fatalf("hangup %+v, want busy 486", h)
	}
	e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndRejected)

	e.trunk.SetPlan(faketrunk.Plan{})
	dial(t, b, "c2", "+15550123")
	tc := e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b)
	tc.Bye(t)
	if h := expect[signaling.HangupEvent](t, b); h.CallID != "c2" || h.Reason != signaling.ReasonRemoteHangup {
		t.Fatalf("hangup %+v, want remote_hangup", h)
	}
}

func TestInboundCallAnsweredElsewhere(t *testing.T) {
	e := newEnv(t, testConfig{})
	b1 := login(t, e, "alice")
	b2 := login(t, e, "alice")

	tc := trunkDial(t, e, "+15550100")
	in1 := expect[signaling.Incoming](t, b1)
	in2 := expect[signaling.Incoming](t, b2)
	if in1.CallID != in2.CallID || in1.From != "+15551230000" || in1.FromName != "Bob" || in1.To != "+15550100" {
		t.Fatalf("incoming %+v and %+v", in1, in2)
	}
	c := accept(t, b1, in1.CallID)
	if h := expect[signaling.HangupEvent](t, b2); h.Reason != signaling.ReasonAnsweredElsewhere {
		t.Fatalf("second tab: %+v, want answered_elsewhere", h)
	}
	expect[signaling.Connected](t, b1)
	tc.WaitAnswered(t)
	testcodec.AssertTone(t, tc.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	testcodec.AssertTone(t, c.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

	// Late accept from the other tab.
	b2.Send(t, signaling.Accept{CallID: in1.CallID, SDP: offer(t)})
	if r := expect[signaling.ErrorReply](t, b2); r.Code != signaling.CodeNotFound {
		t.Errorf("late accept: %+v, want not_found", r)
	}
	tc.Bye(t)
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonRemoteHangup {
		t.Fatalf("hangup %+v, want remote_hangup", h)
	}
}

func TestInboundRejectAndCancel(t *testing.T) {
	e := newEnv(t, testConfig{})
	b1 := login(t, e, "alice")
	b2 := login(t, e, "alice")

	t.Run("reject", func(t *testing.T) {
		tc := trunkDial(t, e, "+15550100")
		in := expect[signaling.Incoming](t, b1)
		expect[signaling.Incoming](t, b2)
		b2.Send(t, signaling.Reject{CallID: in.CallID})
		for _, b := range []*gobrowser.Client{b1, b2} {
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRejected {
				t.Errorf("hangup %+v, want rejected", h)
			}
		}
		tc.WaitEnded(t, faketrunk.EndRejected)
		if code := tc.FinalCode(); code != 603 {
			t.Errorf("trunk call ended with %d, want 603", code)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		tc := trunkDial(t, e, "+15550100")
		expect[signaling.Incoming](t, b1)
		expect[signaling.Incoming](t, b2)
		tc.WaitRinging(t)
		tc.Cancel()
		for _, b := range []*gobrowser.Client{b1, b2} {
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonCancelled {
				t.Errorf("hangup %+v, want cancelled", h)
			}
		}
		tc.WaitEnded(t, faketrunk.EndCancelled)
	})
	t.Run("offline user", func(t *testing.T) {
		tc := trunkDial(t, e, "+15550199")
		tc.WaitEnded(t, faketrunk.EndRejected)
		if code := tc.FinalCode(); code != 404 {
			t.Errorf("call to an unrouted DID ended with %d, want 404", code)
		}
	})
}

func TestShutdownDrainsThenHangsUp(t *testing.T) {
	const grace = 2 * time.Second
	e := newEnv(t, testConfig{grace: grace.String()})
	b, _, tc := callUp(t, e)
	heardBefore := tc.Heard().Len()
	drainAt := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		e.stop()
		if err := <-e.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		e.done <- nil
	}()
	// Draining: not ready, no new calls, the call in progress goes on.
	deadline := time.Now().Add(5 * time.Second)
	for e.gw.ready.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sdp := offer(t)
	b.Send(t, signaling.Dial{ID: "c2", To: "+15550123", SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeShuttingDown {
		t.Errorf("dial while draining: %+v, want shutting_down", r)
	}
	// Grace over: the call is hung up and the socket closed with 1001.
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonShutdown {
		t.Fatalf("hangup %+v, want shutdown", h)
	}
	if d := time.Since(drainAt); d < grace {
		t.Errorf("the call was hung up %v after the drain began, within the %v grace period", d.Round(time.Millisecond), grace)
	}
	if st, _ := b.WaitClosed(t); st != websocket.StatusGoingAway {
		t.Errorf("close status %v, want 1001", st)
	}
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	// The call went on while the gateway drained: the trunk heard the
	// browser for at least a quarter of the grace period.
	if n := tc.Heard().Len() - heardBefore; n < secondOfAudio/2 {
		t.Errorf("the trunk heard %d samples while the gateway drained, want at least %d", n, secondOfAudio/2)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestConcurrentCalls(t *testing.T) {
	const tabs, perTab = 4, 5
	e := newEnv(t, testConfig{})
	type leg struct {
		b  *gobrowser.Client
		id string
		c  *gobrowser.Peer
	}
	var legs []leg
	for i := range tabs {
		b := login(t, e, "alice")
		for j := range perTab {
			id := "c" + string(rune('a'+i)) + string(rune('0'+j))
			legs = append(legs, leg{b: b, id: id, c: dial(t, b, id, "+1555012"+string(rune('0'+j)))})
			if c := expectProgress[signaling.Connected](t, b); c.CallID != id {
				t.Fatalf("connected %q, want %q", c.CallID, id)
			}
		}
	}
	trunkCalls := make([]*faketrunk.Call, 0, len(legs))
	for range legs {
		trunkCalls = append(trunkCalls, e.trunk.NextCall(t))
	}
	for _, l := range legs {
		testcodec.AssertTone(t, l.c.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)
	}
	for _, tc := range trunkCalls {
		testcodec.AssertTone(t, tc.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	}
	if got := testutilGauge(t, e, directionOutbound); got != float64(len(legs)) {
		t.Errorf("calls active %v, want %d", got, len(legs))
	}
	for _, l := range legs {
		l.b.Send(t, signaling.Hangup{CallID: l.id})
	}
	for _, tc := range trunkCalls {
		tc.WaitEnded(t, faketrunk.EndByeReceived)
	}
}
