package sip

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/sipp"
)

// sdpOrigin returns the session id and version of an SDP body's o= line.
func sdpOrigin(t *testing.T, body []byte) (id, version uint64) {
	t.Helper()
	for _, line := range strings.Split(string(body), "\r\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "o=")); strings.HasPrefix(line, "o=") && len(f) == 6 {
			id, err1 := strconv.ParseUint(f[1], 10, 64)
			version, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				break
			}
			return id, version
		}
	}
	t.Fatalf("no readable o= line in\n%s", body)
	return 0, 0
}

// sdpDirection returns the direction attribute of an SDP body.
func sdpDirection(t *testing.T, body []byte) Direction {
	t.Helper()
	md, err := ParseSDP(body)
	if err != nil {
		t.Fatalf("our SDP does not parse: %v\n%s", err, body)
	}
	return md.Direction
}

// TestHoldGlare: our hold re-INVITE crosses the trunk's own (RFC 3261 section 14.2). We refuse
// the trunk's with 491 while ours is pending; the trunk answers ours with 491 too. In the random
// wait that follows (2.1 to 4 s, we placed the call) the trunk's re-INVITE, which puts us on
// hold, is answered recvonly; then our retry offers a=inactive (both hold, RFC 6337 section
// 5.3), each description with our session id and a higher version. Resume then offers recvonly,
// since the trunk still holds us.
func TestHoldGlare(t *testing.T) {
	peer, env := dialingUA(t)
	call, inv, ok := dialPeer(t, env, peer, 40070)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	session, version := sdpOrigin(t, inv.Body())
	nextVersion := func(body []byte, what string) {
		t.Helper()
		id, v := sdpOrigin(t, body)
		if id != session || v <= version {
			t.Errorf("%s: o= session %d version %d, want session %d and a version above %d", what, id, v, session, version)
		}
		version = v
	}

	// checkSDP checks the direction of one of our descriptions and that its version went up.
	checkSDP := func(body []byte, want Direction, what string) {
		t.Helper()
		if d := sdpDirection(t, body); d != want {
			t.Errorf("%s: direction %v, want %v", what, d, want)
		}
		nextVersion(body, what)
	}

	held := make(chan error, 1)
	go func() { held <- call.Hold(ctx) }()
	first := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	checkSDP(first.Body(), SendOnly, "hold offer")

	// The trunk's re-INVITE crosses ours: refused with 491 while ours is pending.
	crossing := peerRequest(peer, sipmsg.INVITE, inv, ok, 100, faketrunk.PCMUSDP(40070, "sendonly"))
	peer.Send(crossing, env.addr)
	refused := peer.ExpectResponse(crossing, 491, 5*time.Second)
	peer.Send(peer.ACKFailure(crossing, refused), env.addr)

	// The trunk refuses ours with 491 as well.
	peer.Send(sipmsg.NewResponseFromRequest(first, 491, "Request Pending", nil), env.addr)
	pendingAt := time.Now()
	if ack := peer.ExpectRequest(sipmsg.ACK, 5*time.Second); ack.CSeq().SeqNo != first.CSeq().SeqNo {
		t.Errorf("ACK of the 491 has CSeq %d, want %d", ack.CSeq().SeqNo, first.CSeq().SeqNo)
	}

	// In the wait, the trunk's retry (after its own delay of up to 2 s, here 300 ms) goes
	// through: it holds us, we answer recvonly.
	time.Sleep(300 * time.Millisecond)
	retry := peerRequest(peer, sipmsg.INVITE, inv, ok, 101, faketrunk.PCMUSDP(40070, "sendonly"))
	peer.Send(retry, env.addr)
	answer := peer.ExpectResponse(retry, 200, 5*time.Second)
	checkSDP(answer.Body(), RecvOnly, "answer to the trunk's hold")
	peer.Send(peer.ACKFor(retry, answer), env.addr)

	// The delay's range is checked exactly by TestGlareDelay; here it cannot be shorter, and a
	// busy machine may make it look longer.
	second := peer.ExpectRequest(sipmsg.INVITE, 8*time.Second)
	if d := time.Since(pendingAt); d < 2100*time.Millisecond {
		t.Errorf("hold re-INVITE sent again %v after 491, want 2.1 to 4 s (RFC 3261 section 14.1)", d)
	}
	if second.CSeq().SeqNo <= first.CSeq().SeqNo {
		t.Errorf("retry CSeq %d not above %d", second.CSeq().SeqNo, first.CSeq().SeqNo)
	}
	checkSDP(second.Body(), Inactive, "second hold offer")
	peer.Send(peer.Reply(second, 200, "OK", faketrunk.PCMUSDP(40070, "inactive")), env.addr)
	if ack := peer.ExpectRequest(sipmsg.ACK, 5*time.Second); ack.CSeq().SeqNo != second.CSeq().SeqNo {
		t.Errorf("ACK CSeq %d, want %d", ack.CSeq().SeqNo, second.CSeq().SeqNo)
	}
	if err := awaitErr(t, held, "Hold after the 2xx"); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if m := call.Media(); !m.LocalHold || !m.Held {
		t.Errorf("Media LocalHold %v Held %v, want both", m.LocalHold, m.Held)
	}
	if err := call.Hold(ctx); err != nil {
		t.Errorf("Hold on a held call: %v", err)
	}

	resumed := make(chan error, 1)
	go func() { resumed <- call.Resume(ctx) }()
	third := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	checkSDP(third.Body(), RecvOnly, "resume offer")
	peer.Send(peer.Reply(third, 200, "OK", faketrunk.PCMUSDP(40070, "sendonly")), env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	if err := <-resumed; err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if m := call.Media(); m.LocalHold || !m.Held {
		t.Errorf("after Resume: Media LocalHold %v Held %v, want false and true", m.LocalHold, m.Held)
	}

	acceptHangup(t, peer, call, env.addr)
}

// TestHoldRefused: a failure response leaves the call up and unchanged (RFC 3261 section 14.1);
// 481 means the trunk lost the dialog: the call ends (section 12.2.1.2).
func TestHoldRefused(t *testing.T) {
	for _, tc := range []struct {
		code   int
		reason string
		ends   bool
	}{
		{488, "Not Acceptable Here", false},
		{500, "Server Internal Error", false},
		{481, "Call/Transaction Does Not Exist", true},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			peer, env := dialingUA(t)
			call, _, _ := dialPeer(t, env, peer, 40072)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			held := make(chan error, 1)
			go func() { held <- call.Hold(ctx) }()
			re := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
			peer.Send(sipmsg.NewResponseFromRequest(re, tc.code, tc.reason, nil), env.addr)
			var byeAnswered <-chan error
			if tc.ends {
				byeAnswered = peer.AnswerBye(env.addr)
			}
			err := <-held
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("Hold = %v, want StatusError %d", err, tc.code)
			}
			if tc.ends {
				if err := <-byeAnswered; err != nil {
					t.Fatalf("no BYE after %d: %v", tc.code, err)
				}
				<-call.Done()
				if !errors.Is(call.Err(), ErrDialogLost) {
					t.Errorf("call.Err() = %v, want ErrDialogLost", call.Err())
				}
				return
			}
			select {
			case <-call.Done():
				t.Fatalf("call ended after a %d to hold: %v", tc.code, call.Err())
			default:
			}
			if m := call.Media(); m.LocalHold {
				t.Error("Media.LocalHold set after a refused hold")
			}
			// Not held: Resume sends nothing.
			if err := call.Resume(ctx); err != nil {
				t.Errorf("Resume of a call that is not held: %v", err)
			}
			for m := peer.Recv(300 * time.Millisecond); m != nil; m = peer.Recv(300 * time.Millisecond) {
				if req, ok := m.(*sipmsg.Request); ok && req.Method == sipmsg.INVITE && !peer.Retransmitted(req) {
					t.Fatalf("Resume of a call that is not held sent a re-INVITE:\n%s", req)
				}
			}
			acceptHangup(t, peer, call, env.addr)
		})
	}
}

// TestHoldSipp puts a sipp trunk on hold and takes it off again. sipp challenges the hold
// re-INVITE with 401 and checks our digest credentials; the wire shows our offers: a=sendonly
// for hold, a=sendrecv for resume, our o= session id throughout with the version one higher
// for each change (RFC 3264 section 8), and sipp's recvonly answer becomes the call's media.
func TestHoldSipp(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_hold.xml"})
	env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
	call, ctx := sippDial(t, s, env, DialRequest{})
	if err := call.Hold(ctx); err != nil {
		t.Fatalf("Hold: %v\n%s", err, s.Report())
	}
	if m := call.Media(); !m.LocalHold || m.Held || m.Remote.Direction != RecvOnly {
		t.Errorf("held Media LocalHold %v Held %v remote %v, want true, false, recvonly", m.LocalHold, m.Held, m.Remote.Direction)
	}
	if err := call.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v\n%s", err, s.Report())
	}
	if m := call.Media(); m.LocalHold || m.Held || m.Remote.Direction != SendRecv {
		t.Errorf("resumed Media LocalHold %v Held %v remote %v, want false, false, sendrecv", m.LocalHold, m.Held, m.Remote.Direction)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	s.Wait(10 * time.Second)

	invites := s.Received("INVITE ", false)
	if len(invites) != 4 {
		t.Fatalf("sipp received %d INVITEs, want 4 (call, hold, hold with credentials, resume)\n%s", len(invites), s.Report())
	}
	body := func(m sipp.Message) []byte {
		_, b, _ := strings.Cut(m.Text, "\n\n")
		return []byte(strings.ReplaceAll(b, "\n", "\r\n"))
	}
	session, v0 := sdpOrigin(t, body(invites[0]))
	for i, want := range []struct {
		dir     Direction
		version uint64
	}{{SendRecv, v0}, {SendOnly, v0 + 1}, {SendOnly, v0 + 1}, {SendRecv, v0 + 2}} {
		b := body(invites[i])
		if d := sdpDirection(t, b); d != want.dir {
			t.Errorf("INVITE %d: a=%v, want a=%v", i, d, want.dir)
		}
		if id, v := sdpOrigin(t, b); id != session || v != want.version {
			t.Errorf("INVITE %d: o= session %d version %d, want %d and %d", i, id, v, session, want.version)
		}
		if i > 0 && !strings.Contains(invites[i].Header("To"), "tag=") {
			t.Errorf("re-INVITE %d outside the dialog: To %q", i, invites[i].Header("To"))
		}
	}
	if h := invites[1].Header("Authorization"); h != "" {
		t.Errorf("first hold re-INVITE already carries Authorization: %q", h)
	}
	auth := invites[2].Header("Authorization")
	p := digestParams(auth)
	want := md5hex(md5hex("alice:trunk.test:secret") + ":" + p["nonce"] + ":" + md5hex("INVITE:"+p["uri"]))
	if !strings.HasPrefix(p["nonce"], "h0ld") || p["response"] != want {
		t.Errorf("hold re-INVITE Authorization %q: want the challenge's nonce and response %s", auth, want)
	}
	if len(s.Received("ACK ", false)) != 4 {
		t.Errorf("sipp received %d ACKs, want 4 (three 2xx and the 401)", len(s.Received("ACK ", false)))
	}
}

// TestGlareDelay: the wait before a re-INVITE is sent again after 491 is a multiple of 10 ms,
// 2.1 to 4 s when we placed the call and 0 to 2 s otherwise (RFC 3261 section 14.1), and it
// varies.
func TestGlareDelay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		owner    bool
		min, max time.Duration
	}{
		{"we placed the call", true, 2100 * time.Millisecond, 4 * time.Second},
		{"the trunk placed the call", false, 0, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dialog{ownsCallID: tc.owner}
			seen := map[time.Duration]bool{}
			for range 1000 {
				got := d.glareDelay()
				if got < tc.min || got > tc.max || got%(10*time.Millisecond) != 0 {
					t.Fatalf("glareDelay() = %v, want a multiple of 10 ms in [%v, %v]", got, tc.min, tc.max)
				}
				seen[got] = true
			}
			if len(seen) < 50 {
				t.Errorf("%d different delays in 1000, want them spread over the range", len(seen))
			}
		})
	}
}
