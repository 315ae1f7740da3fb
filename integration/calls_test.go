package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestOutboundCall: a browser dials a number, the trunk rings and answers,
// and each party hears the other's tone, not its own. Variants cover how the
// trunk answers: plain, after a digest challenge, with PCMA, after early
// media, and a browser logged in with a JWT.
func TestOutboundCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan uasPlan
		jwt  bool
		// trickle sends the offer without candidates and the candidates
		// in candidate messages.
		trickle bool
		check   func(t *testing.T, e *env, b *browser, c *outboundCall)
	}{
		{name: "answered after ringing", plan: uasPlan{ringFor: 300 * time.Millisecond},
			check: func(t *testing.T, e *env, b *browser, c *outboundCall) {
				b.ws.expect(t, stepTimeout, "ringing", isRinging(c.id))
			}},
		{name: "digest challenge 401", plan: uasPlan{challenge: 401, user: trunkUser, password: trunkPass},
			check: func(t *testing.T, e *env, b *browser, c *outboundCall) {
				if n := len(e.trunk.received(sipmsg.INVITE)); n != 2 {
					t.Errorf("trunk received %d INVITEs, want 2 (challenged, then authorised)", n)
				}
			}},
		{name: "proxy challenge 407", plan: uasPlan{challenge: 407, user: trunkUser, password: trunkPass}},
		{name: "trunk answers PCMA", plan: uasPlan{pt: ptPCMA}},
		{name: "early media then answer", plan: uasPlan{ringFor: 2 * time.Second, earlyMedia: true},
			check: func(t *testing.T, e *env, b *browser, c *outboundCall) {
				b.ws.expect(t, stepTimeout, "progress", isProgress(c.id))
			}},
		{name: "browser logged in with JWT", jwt: true},
		{name: "browser trickles its ICE candidates", trickle: true,
			check: func(t *testing.T, e *env, b *browser, c *outboundCall) {
				b.ws.none(t, 0, "an error", isType(signaling.TypeError))
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
			var c *outboundCall
			if tt.trickle {
				c = b.dialTrickle(t, numberOK)
				b.connectedBothWays(t, c)
			} else {
				c = b.dialConnected(t, numberOK)
			}
			inv := c.trunk.invite
			if got := inv.Recipient.User; got != numberOK {
				t.Errorf("trunk INVITE Request-URI user %q, want %q (trunk numbering e164)", got, numberOK)
			}
			if tt.check != nil {
				tt.check(t, e, b, c)
			}
			b.ws.send(t, signaling.Hangup{CallID: c.id})
			b.ws.expectHangup(t, c.id, signaling.ReasonLocalHangup, 0, stepTimeout)
			c.trunk.waitEnded(t, endByeReceived, stepTimeout)
		})
	}
}

// TestInboundCall: the trunk calls Alice's DID, her browser is told who is
// calling, accepts, and both parties hear each other.
func TestInboundCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	b := e.login(t, userAlice)
	tc := e.trunk.dial(t, e.sipAddr.String(), didAlice, callOptions{from: "+15557770001", fromName: "Trunk Caller"})
	tc.waitRinging(t, stepTimeout)
	in := b.expectIncoming(t, didAlice)
	if in.From != "+15557770001" {
		t.Errorf("incoming from %q, want +15557770001", in.From)
	}
	if in.FromName != "Trunk Caller" {
		t.Errorf("incoming from_name %q, want %q", in.FromName, "Trunk Caller")
	}
	peer := b.accept(t, in.CallID)
	b.ws.expect(t, stepTimeout, "connected", isConnected(in.CallID))
	tc.waitAnswered(t, stepTimeout)
	peer.waitConnected(t, stepTimeout)
	waitTone(t, "trunk", tc.media.heard, 0, browserToneHz, trunkToneHz)
	waitTone(t, "browser", peer.heard, 0, trunkToneHz, browserToneHz)

	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := tc.bye(ctx); err != nil {
		t.Fatal(err)
	}
	b.ws.expectHangup(t, in.CallID, signaling.ReasonRemoteHangup, 0, stepTimeout)
}

// TestInboundNobodyOnline: a call to a DID whose user has no browser
// connected is refused with 480 Temporarily Unavailable and rings nobody.
func TestInboundNobodyOnline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.login(t, userAlice) // online, but not the routed user
	tc := e.trunk.dial(t, e.sipAddr.String(), didNobody, callOptions{})
	tc.waitEnded(t, endRejected, stepTimeout)
	if tc.finalCode != 480 {
		t.Errorf("trunk got final status %d, want 480", tc.finalCode)
	}
	alice.ws.none(t, 300*time.Millisecond, "an incoming call for another user", isIncoming())
}

// TestTwoTabs: an inbound call rings both of Alice's tabs; the first to
// accept gets the call with audio, the other is told answered_elsewhere.
func TestTwoTabs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tab1, tab2 := e.login(t, userAlice), e.login(t, userAlice)
	tc := e.trunk.dial(t, e.sipAddr.String(), didAlice, callOptions{})
	in1, in2 := tab1.expectIncoming(t, didAlice), tab2.expectIncoming(t, didAlice)
	if in1.CallID != in2.CallID {
		t.Fatalf("tabs were told different call ids %q and %q for one call", in1.CallID, in2.CallID)
	}
	peer := tab1.accept(t, in1.CallID)
	tab2.ws.expectHangup(t, in2.CallID, signaling.ReasonAnsweredElsewhere, 0, stepTimeout)
	tab1.ws.expect(t, stepTimeout, "connected", isConnected(in1.CallID))
	tc.waitAnswered(t, stepTimeout)
	peer.waitConnected(t, stepTimeout)
	waitTone(t, "trunk", tc.media.heard, 0, browserToneHz, trunkToneHz)
	waitTone(t, "browser", peer.heard, 0, trunkToneHz, browserToneHz)
	// The losing tab can no longer take the call.
	late := newBrowserPeer(t)
	tab2.ws.send(t, signaling.Accept{CallID: in2.CallID, SDP: late.offer(t), Ref: "late"})
	m := tab2.ws.expect(t, stepTimeout, "error for a late accept", isType(signaling.TypeError)).(signaling.ErrorReply)
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
			peer := newBrowserPeer(t)
			id := newCallID()
			b.ws.send(t, signaling.Dial{ID: id, To: number, SDP: peer.offer(t), Ref: id})
			m := b.ws.expect(t, stepTimeout, "reply to dial "+id, anyMessageAbout(id))
			er, ok := m.(signaling.ErrorReply)
			if !ok || er.Code != signaling.CodeForbiddenNumber {
				t.Fatalf("dial %s: got %s, want error forbidden_number", number, describe([]signaling.Message{m}))
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
	invites := e.trunk.received(sipmsg.INVITE)
	if len(invites) != 1 || invites[0].CallID().Value() != c.trunk.callID {
		t.Fatalf("denied dials reached the trunk: %s", e.trunk.summary())
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
