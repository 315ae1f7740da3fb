package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/sip"
)

// secondOfAudio is one second of 8 kHz audio, in samples.
const secondOfAudio = 8000

func TestOutboundCallAudioDTMFAndHangup(t *testing.T) {
	e := newEnv(t, testConfig{})
	b := newFakeBrowser(t, e)
	b.login("alice")
	c := b.dial("c1", "5550123")
	tc := e.trunk.nextCall(t)
	if got := tc.call.To(); got != "+15550123" {
		t.Errorf("trunk was called for %q, want +15550123", got)
	}
	if got := tc.call.From(); got != "+15550100" {
		t.Errorf("caller ID %q, want alice's +15550100", got)
	}
	expectProgress[signaling.Connected](t, b)

	// Each side hears the other's tone, not its own.
	testcodec.AssertTone(t, waitAudio(t, tc.ear, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	testcodec.AssertTone(t, waitAudio(t, c.ear, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

	// DTMF both ways.
	b.send(signaling.DTMF{CallID: "c1", Digits: "5#"})
	tc.sendEv <- 7
	if d := expect[signaling.DTMFEvent](t, b); d.Digit != "7" || d.CallID != "c1" {
		t.Errorf("dtmf %+v, want 7 on c1", d)
	}
	waitDigits(t, tc.ear, "5#")

	// Hold: the trunk hears silence; resume: the tone again. Each is
	// measured over half a second of packets from the first one that
	// changed, however late they arrive.
	b.send(signaling.Hold{CallID: "c1"})
	held := waitChange(t, tc.ear, "silence", len(tc.ear.heard()), secondOfAudio/2, silent)
	for i, x := range held {
		if x > 100 || x < -100 {
			t.Fatalf("trunk hears sample %d = %d while held", i, x)
		}
	}
	// The trunk was put on hold with a re-INVITE (a=sendonly, RFC 3264 section 8.4).
	trunkEvent(t, tc, sip.EventHold)
	if m := tc.call.Media(); !m.Held || m.Remote.Direction != sip.SendOnly {
		t.Errorf("trunk media while held: Held %v, gateway's direction %v; want true, sendonly", m.Held, m.Remote.Direction)
	}
	b.send(signaling.Resume{CallID: "c1"})
	mark := len(tc.ear.heard())
	trunkEvent(t, tc, sip.EventResume)
	resumed := waitChange(t, tc.ear, "the tone after resume", mark, secondOfAudio/2, func(frame []int16) bool { return !silent(frame) })
	testcodec.AssertTone(t, resumed, 440, 1000)
	if m := tc.call.Media(); m.Held || m.Remote.Direction != sip.SendRecv {
		t.Errorf("trunk media after resume: Held %v, gateway's direction %v; want false, sendrecv", m.Held, m.Remote.Direction)
	}

	b.send(signaling.Hangup{CallID: "c1"})
	h := expect[signaling.HangupEvent](t, b)
	if h.CallID != "c1" || h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	select {
	case <-tc.call.Done():
		var he *sip.HangupError
		if !errors.As(tc.call.Err(), &he) || he.By != sip.Remote {
			t.Errorf("trunk call ended with %v, want a BYE from the gateway", tc.call.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk got no BYE")
	}
	if !strings.Contains(e.logs.String(), "call ended") {
		t.Error("no call log line")
	}
}

// trunkEvent waits for the trunk's call to report a dialog event of kind.
func trunkEvent(t *testing.T, tc *trunkCall, kind sip.DialogEventKind) {
	t.Helper()
	select {
	case ev := <-tc.call.Events():
		if ev.Kind != kind {
			t.Fatalf("trunk dialog event %v, want %v", ev.Kind, kind)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the trunk saw no %v re-INVITE", kind)
	}
}

// expectProgress waits for T, skipping ringing and progress.
func expectProgress[T signaling.Message](t *testing.T, b *fakeBrowser) T {
	t.Helper()
	var zero T
	for {
		select {
		case m := <-b.msgs:
			switch v := m.(type) {
			case T:
				return v
			case signaling.Ringing, signaling.Progress, signaling.Pong:
				continue
			default:
				t.Fatalf("got %T %+v, want %T", m, m, zero)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no %T message", zero)
		}
	}
}

func TestOutboundRefusals(t *testing.T) {
	e := newEnv(t, testConfig{maxCalls: 1})
	b := newFakeBrowser(t, e)
	// Nothing but auth before authentication.
	b.send(signaling.Ping{Ref: "p"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeOutOfOrder || r.Ref != "p" {
		t.Errorf("ping before auth: %+v", r)
	}
	_, sdp := b.offer("x0")
	b.send(signaling.Dial{ID: "x0", To: "+15550123", SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeOutOfOrder {
		t.Errorf("dial before auth: %+v", r)
	}
	b.send(signaling.Auth{Version: signaling.Version, User: "alice", Password: "wrong"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeUnauthorized {
		t.Errorf("bad password: %+v", r)
	}
	b.login("alice")
	b.send(signaling.Ping{Ref: "p2"})
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
			b.send(signaling.Dial{ID: "d-" + string(tt.code), To: tt.to, SDP: sdp, Ref: "r1"})
			r := expect[signaling.ErrorReply](t, b)
			if r.Code != tt.code || r.CallID != "d-"+string(tt.code) || r.Ref != "r1" {
				t.Fatalf("reply %+v, want %s", r, tt.code)
			}
		})
	}
	if n := e.trunk.inviteCount(); n != 0 {
		t.Fatalf("the trunk got %d INVITEs for refused dials", n)
	}

	// The call limit counts calls in progress.
	e.trunk.setMode(trunkRingForever)
	b.dial("c1", "+15550123")
	expectProgress[signaling.Ringing](t, b)
	_, sdp2 := b.offer("c2")
	b.send(signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp2})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeTooManyCalls {
		t.Errorf("second call: %+v, want too_many_calls", r)
	}
	// Hang-up while ringing cancels the INVITE.
	b.send(signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonLocalHangup {
		t.Errorf("hangup %+v", h)
	}
	ic := <-e.trunk.ringing
	select {
	case <-ic.Done():
		if !errors.Is(ic.Cause(), sip.ErrCanceled) {
			t.Errorf("the trunk's INVITE ended with %v, want CANCEL", ic.Cause())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk got no CANCEL")
	}
	b.send(signaling.Hangup{CallID: "c1"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNotFound {
		t.Errorf("hangup of an ended call: %+v", r)
	}
}

func TestOutboundBusyAndRemoteHangup(t *testing.T) {
	e := newEnv(t, testConfig{})
	b := newFakeBrowser(t, e)
	b.login("alice")

	e.trunk.setMode(trunkBusy)
	b.dial("busy", "+15550123")
	h := expectProgress[signaling.HangupEvent](t, b)
	if h.Reason != signaling.ReasonBusy || h.SIPCode != 486 || h.SIPReason != "Busy Here" {
		t.Fatalf("hangup %+v, want busy 486", h)
	}

	e.trunk.setMode(trunkAnswer)
	b.dial("c2", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
	tc.hangup()
	if h := expect[signaling.HangupEvent](t, b); h.CallID != "c2" || h.Reason != signaling.ReasonRemoteHangup {
		t.Fatalf("hangup %+v, want remote_hangup", h)
	}
}

func TestInboundCallAnsweredElsewhere(t *testing.T) {
	e := newEnv(t, testConfig{})
	b1 := newFakeBrowser(t, e)
	b1.login("alice")
	b2 := newFakeBrowser(t, e)
	b2.login("alice")

	calls, errs := e.trunk.dial(context.Background(), "+15550100")
	in1 := expect[signaling.Incoming](t, b1)
	in2 := expect[signaling.Incoming](t, b2)
	if in1.CallID != in2.CallID || in1.From != "+15551230000" || in1.FromName != "Bob" || in1.To != "+15550100" {
		t.Fatalf("incoming %+v and %+v", in1, in2)
	}
	c, sdp := b1.offer(in1.CallID)
	b1.send(signaling.Accept{CallID: in1.CallID, SDP: sdp})
	c.answered(t, expect[signaling.Answer](t, b1))
	if h := expect[signaling.HangupEvent](t, b2); h.Reason != signaling.ReasonAnsweredElsewhere {
		t.Fatalf("second tab: %+v, want answered_elsewhere", h)
	}
	expect[signaling.Connected](t, b1)
	var tc *trunkCall
	select {
	case tc = <-calls:
		t.Cleanup(tc.close)
	case err := <-errs:
		t.Fatalf("trunk dial: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the trunk's call was not answered")
	}
	testcodec.AssertTone(t, waitAudio(t, tc.ear, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	testcodec.AssertTone(t, waitAudio(t, c.ear, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

	// Late accept from the other tab.
	b2.send(signaling.Accept{CallID: in1.CallID, SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b2); r.Code != signaling.CodeNotFound {
		t.Errorf("late accept: %+v, want not_found", r)
	}
	tc.hangup()
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonRemoteHangup {
		t.Fatalf("hangup %+v, want remote_hangup", h)
	}
}

func TestInboundRejectAndCancel(t *testing.T) {
	e := newEnv(t, testConfig{})
	b1 := newFakeBrowser(t, e)
	b1.login("alice")
	b2 := newFakeBrowser(t, e)
	b2.login("alice")

	t.Run("reject", func(t *testing.T) {
		_, errs := e.trunk.dial(context.Background(), "+15550100")
		in := expect[signaling.Incoming](t, b1)
		expect[signaling.Incoming](t, b2)
		b2.send(signaling.Reject{CallID: in.CallID})
		for _, b := range []*fakeBrowser{b1, b2} {
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRejected {
				t.Errorf("hangup %+v, want rejected", h)
			}
		}
		var se *sip.StatusError
		if err := <-errs; !errors.As(err, &se) || se.Code != 603 {
			t.Errorf("trunk dial ended with %v, want 603", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, errs := e.trunk.dial(ctx, "+15550100")
		expect[signaling.Incoming](t, b1)
		expect[signaling.Incoming](t, b2)
		cancel()
		for _, b := range []*fakeBrowser{b1, b2} {
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonCancelled {
				t.Errorf("hangup %+v, want cancelled", h)
			}
		}
		if err := <-errs; err == nil {
			t.Error("the cancelled INVITE was answered")
		}
	})
	t.Run("offline user", func(t *testing.T) {
		_, errs := e.trunk.dial(context.Background(), "+15550199")
		var se *sip.StatusError
		if err := <-errs; !errors.As(err, &se) || se.Code != 404 {
			t.Errorf("call to an unrouted DID ended with %v, want 404", err)
		}
	})
}

func TestShutdownDrainsThenHangsUp(t *testing.T) {
	const grace = 2 * time.Second
	e := newEnv(t, testConfig{grace: grace.String()})
	b := newFakeBrowser(t, e)
	b.login("alice")
	b.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
	heardBefore := len(tc.ear.heard())
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
	_, sdp := b.offer("c2")
	b.send(signaling.Dial{ID: "c2", To: "+15550123", SDP: sdp})
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
	if st := b.closeStatus(); st != websocket.StatusGoingAway {
		t.Errorf("close status %v, want 1001", st)
	}
	waitBYE(t, tc)
	// The call went on while the gateway drained: the trunk heard the
	// browser for at least a quarter of the grace period.
	if n := len(tc.ear.heard()) - heardBefore; n < secondOfAudio/2 {
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
		b  *fakeBrowser
		id string
		c  *browserCall
	}
	var legs []leg
	for i := range tabs {
		b := newFakeBrowser(t, e)
		b.login("alice")
		for j := range perTab {
			id := "c" + string(rune('a'+i)) + string(rune('0'+j))
			legs = append(legs, leg{b: b, id: id, c: b.dial(id, "+1555012"+string(rune('0'+j)))})
			if c := expectProgress[signaling.Connected](t, b); c.CallID != id {
				t.Fatalf("connected %q, want %q", c.CallID, id)
			}
		}
	}
	trunkCalls := make([]*trunkCall, 0, len(legs))
	for range legs {
		trunkCalls = append(trunkCalls, e.trunk.nextCall(t))
	}
	for _, l := range legs {
		testcodec.AssertTone(t, waitAudio(t, l.c.ear, 2*secondOfAudio)[secondOfAudio:], 1000, 440)
	}
	for _, tc := range trunkCalls {
		testcodec.AssertTone(t, waitAudio(t, tc.ear, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
	}
	if got := testutilGauge(t, e, directionOutbound); got != float64(len(legs)) {
		t.Errorf("calls active %v, want %d", got, len(legs))
	}
	for _, l := range legs {
		l.b.send(signaling.Hangup{CallID: l.id})
	}
	for _, tc := range trunkCalls {
		waitBYE(t, tc)
	}
}
