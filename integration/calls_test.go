package integration

import (
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/telephony"
)

// TestOutboundCall: a browser dials a number, the trunk rings and answers,
// and each party hears the other's tone, not its own. Variants cover how the
// trunk answers: plain, after a digest challenge, with PCMA, after early
// media, and a browser logged in with a JWT.
func TestOutboundCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan faketrunk.Plan
		jwt  bool
		// trickle sends the offer without candidates and the candidates
		// in candidate messages.
		trickle bool
		check   func(t *testing.T, e *env, b *browser, c *testCall)
	}{
		{name: "answered after ringing", plan: faketrunk.Plan{Ring: 300 * time.Millisecond},
			check: func(t *testing.T, e *env, b *browser, c *testCall) {
				b.ws.Expect(t, "ringing", gobrowser.Is[signaling.Ringing](c.id))
			}},
		{name: "digest challenge 401", plan: faketrunk.Plan{Challenge: 401, User: trunkUser, Password: trunkPass},
			check: func(t *testing.T, e *env, b *browser, c *testCall) {
				if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 2 {
					t.Errorf("trunk received %d INVITEs, want 2 (challenged, then authorised)", n)
				}
			}},
		{name: "proxy challenge 407", plan: faketrunk.Plan{Challenge: 407, User: trunkUser, Password: trunkPass}},
		{name: "trunk answers PCMA", plan: faketrunk.Plan{Codec: telephony.PCMA}},
		{name: "early media then answer", plan: faketrunk.Plan{Ring: 2 * time.Second, EarlyMedia: true},
			check: func(t *testing.T, e *env, b *browser, c *testCall) {
				b.ws.Expect(t, "progress", gobrowser.Is[signaling.Progress](c.id))
			}},
		{name: "browser logged in with JWT", jwt: true},
		{name: "browser trickles its ICE candidates", trickle: true,
			check: func(t *testing.T, e *env, b *browser, c *testCall) {
				b.ws.None(t, 0, "an error", gobrowser.IsType(signaling.TypeError))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{trunkPlan: tt.plan})
			var b *browser
			if tt.jwt {
				b = e.loginJWT(t, userAlice)
			} else {
				b = e.login(t, userAlice)
			}
			var c *testCall
			if tt.trickle {
				c = b.dialTrickle(t, numberOK)
				b.connectedBothWays(t, c)
			} else {
				c = b.dialConnected(t, numberOK)
			}
			inv := c.trunk.Invite()
			if got := inv.Recipient.User; got != numberOK {
				t.Errorf("trunk INVITE Request-URI user %q, want %q (trunk numbering e164)", got, numberOK)
			}
			if tt.check != nil {
				tt.check(t, e, b, c)
			}
			b.ws.HangUp(t, c.id)
			c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
		})
	}
}

// TestInboundCall: the trunk calls Alice's DID, her browser is told who is
// calling, accepts, and both parties hear each other.
func TestInboundCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	b := e.login(t, userAlice)
	tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{From: "+15557770001", FromName: "Trunk Caller"})
	tc.WaitRinging(t)
	in := b.ws.ExpectIncoming(t, didAlice)
	if in.From != "+15557770001" {
		t.Errorf("incoming from %q, want +15557770001", in.From)
	}
	if in.FromName != "Trunk Caller" {
		t.Errorf("incoming from_name %q, want %q", in.FromName, "Trunk Caller")
	}
	peer := b.accept(t, in.CallID)
	b.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](in.CallID))
	tc.WaitAnswered(t)
	peer.WaitConnected(t)
	tc.Heard().WaitTone(t, "trunk", 0, browserToneHz, trunkToneHz)
	peer.Heard().WaitTone(t, "browser", 0, trunkToneHz, browserToneHz)

	tc.Bye(t)
	b.ws.ExpectHangup(t, in.CallID, signaling.ReasonRemoteHangup, 0)
}

// TestInboundNobodyOnline: a call to a DID whose user has no browser
// connected is refused with 480 Temporarily Unavailable and rings nobody.
func TestInboundNobodyOnline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.login(t, userAlice) // online, but not the routed user
	tc := e.trunk.Dial(t, e.sipAddr, didNobody, faketrunk.DialOptions{})
	tc.WaitEnded(t, faketrunk.EndRejected)
	if tc.FinalCode() != 480 {
		t.Errorf("trunk got final status %d, want 480", tc.FinalCode())
	}
	alice.ws.None(t, 300*time.Millisecond, "an incoming call for another user", gobrowser.IsType(signaling.TypeIncoming))
}

// TestTwoTabs: an inbound call rings both of Alice's tabs; the first to
// accept gets the call with audio, the other is told answered_elsewhere.
func TestTwoTabs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tab1, tab2 := e.login(t, userAlice), e.login(t, userAlice)
	tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
	in1, in2 := tab1.ws.ExpectIncoming(t, didAlice), tab2.ws.ExpectIncoming(t, didAlice)
	if in1.CallID != in2.CallID {
		t.Fatalf("tabs were told different call ids %q and %q for one call", in1.CallID, in2.CallID)
	}
	peer := tab1.accept(t, in1.CallID)
	tab2.ws.ExpectHangup(t, in2.CallID, signaling.ReasonAnsweredElsewhere, 0)
	tab1.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](in1.CallID))
	tc.WaitAnswered(t)
	peer.WaitConnected(t)
	tc.Heard().WaitTone(t, "trunk", 0, browserToneHz, trunkToneHz)
	peer.Heard().WaitTone(t, "browser", 0, trunkToneHz, browserToneHz)
	// The losing tab can no longer take the call.
	late := newPeer(t)
	tab2.ws.Send(t, signaling.Accept{CallID: in2.CallID, SDP: late.Offer(t), Ref: "late"})
	m := tab2.ws.Expect(t, "error for a late accept", gobrowser.IsType(signaling.TypeError)).(signaling.ErrorReply)
	if m.Code != signaling.CodeNotFound || m.Ref != "late" {
		t.Errorf("late accept: error %q ref %q, want not_found ref late (docs/protocol.md)", m.Code, m.Ref)
	}
	stillHearing(t, peer, tc)
}

// TestDeniedNumbers: numbers the dial rules deny never reach the trunk,
// the browser is told forbidden_number, and each denial is counted.
func TestDeniedNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	b := e.login(t, userAlice)
	denied := []string{numberDenied, numberIntl}
	for _, number := range denied {
		t.Run(strings.TrimPrefix(number, "+"), func(t *testing.T) {
			peer := newPeer(t)
			id := newCallID()
			b.ws.Send(t, signaling.Dial{ID: id, To: number, SDP: peer.Offer(t), Ref: id})
			m := b.ws.Expect(t, "reply to dial "+id, gobrowser.About(id))
			er, ok := m.(signaling.ErrorReply)
			if !ok || er.Code != signaling.CodeForbiddenNumber {
				t.Fatalf("dial %s: got %s, want error forbidden_number", number, gobrowser.Describe([]signaling.Message{m}))
			}
			if er.Ref != id {
				t.Errorf("error ref %q, want %q", er.Ref, id)
			}
		})
	}
	// An allowed call placed after the denied ones is the first and only
	// INVITE the trunk sees: the gateway handles a connection's messages in
	// order, so an INVITE for a denied dial would have come before it.
	c := b.dial(t, numberOK)
	invites := e.trunk.Requests(sipmsg.INVITE)
	if len(invites) != 1 || invites[0].CallID().Value() != c.trunk.CallID() {
		t.Fatalf("denied dials reached the trunk: %s", e.trunk.Summary())
	}
	if got := counterSum(t, e.gw.Metrics().DialsDenied); got != float64(len(denied)) {
		t.Errorf("denied dials counted %v times, want %d", got, len(denied))
	}
}

// counterSum adds up every series of a counter vector.
func counterSum(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		sum += pb.GetCounter().GetValue()
	}

	return sum
}
