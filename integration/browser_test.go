package integration

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Timeouts of the end-to-end steps, generous for -race on a busy machine.
const (
	stepTimeout  = 10 * time.Second // one signaling or SIP step
	audioTimeout = toneWaitTimeout
)

// browser is one fake browser tab: an authenticated WebSocket and the
// PeerConnections of its calls.
type browser struct {
	env  *env
	ws   *wsClient
	user string
}

// login opens a tab and authenticates it as user with the configured
// password; it fails the test unless the gateway confirms.
func (e *env) login(t *testing.T, user string) *browser {
	t.Helper()
	b := &browser{env: e, ws: dialWS(t, e.wsURL()), user: user}
	b.ws.send(t, signaling.Auth{Version: signaling.Version, User: user, Password: testPassword, Ref: "login"})
	b.expectAuthenticated(t, user)

	return b
}

// loginJWT opens a tab and authenticates it with a fresh token for user.
func (e *env) loginJWT(t *testing.T, user string) *browser {
	t.Helper()
	b := &browser{env: e, ws: dialWS(t, e.wsURL()), user: user}
	b.ws.send(t, signaling.Auth{Version: signaling.Version, Token: token(t, jwtKey, user, time.Hour)})
	b.expectAuthenticated(t, user)

	return b
}

// expectAuthenticated checks the gateway's confirmation of a login.
func (b *browser) expectAuthenticated(t *testing.T, user string) {
	t.Helper()
	m := b.ws.expect(t, stepTimeout, "authenticated", func(m signaling.Message) bool {
		return m.MessageType() == signaling.TypeAuthenticated || m.MessageType() == signaling.TypeError
	})
	a, ok := m.(signaling.Authenticated)
	if !ok {
		t.Fatalf("login as %s: got %s", user, describe([]signaling.Message{m}))
	}
	if a.User != user || a.Version != signaling.Version {
		t.Fatalf("login as %s: authenticated as %q, protocol %d", user, a.User, a.Version)
	}
}

// callIDs makes call ids unique within the test binary.
var callIDs atomic.Int64

// newCallID returns a fresh client-chosen call id.
func newCallID() string { return fmt.Sprintf("call-%d", callIDs.Add(1)) }

// dialTrickle places a call to number with an offer that has no
// candidates, then sends the browser's candidates one by one in candidate
// messages, ending with the end-of-candidates indication (an empty
// candidate), as a browser trickling ICE does (RFC 8838).
func (b *browser) dialTrickle(t *testing.T, number string) *outboundCall {
	t.Helper()
	c := &outboundCall{id: newCallID(), peer: newBrowserPeer(t)}
	offer, cands := c.peer.offerTrickle(t)
	if strings.Contains(offer, "a=candidate") {
		t.Fatal("trickle offer already carries candidates")
	}
	b.ws.send(t, signaling.Dial{ID: c.id, To: number, SDP: offer, Ref: c.id})
	m := b.ws.expect(t, stepTimeout, "answer to dial "+c.id, anyMessageAbout(c.id))
	ans, ok := m.(signaling.Answer)
	if !ok {
		t.Fatalf("dial %s: expected answer first, got %s", number, describe([]signaling.Message{m}))
	}
	c.peer.applyAnswer(t, ans.SDP)
	sent := 0
	timeout := time.After(stepTimeout)
	for done := false; !done; {
		select {
		case ci, ok := <-cands:
			if !ok {
				done = true
				break
			}
			b.ws.send(t, signaling.Candidate{CallID: c.id, Candidate: signaling.ICECandidate{
				Candidate: ci.Candidate, SDPMid: ci.SDPMid, SDPMLineIndex: ci.SDPMLineIndex, UsernameFragment: ci.UsernameFragment,
			}})
			sent++
		case <-timeout:
			t.Fatalf("ICE gathering did not complete within %v", stepTimeout)
		}
	}
	if sent == 0 {
		t.Fatal("the browser gathered no candidate to trickle")
	}
	mid := "0"
	b.ws.send(t, signaling.Candidate{CallID: c.id, Candidate: signaling.ICECandidate{Candidate: "", SDPMid: &mid}})
	c.trunk = b.env.trunk.waitCallTo(t, number, stepTimeout)

	return c
}

// outboundCall is a call the browser placed, seen from both ends.
type outboundCall struct {
	id    string
	peer  *browserPeer
	trunk *trunkCall
}

// dial places a call to number: it sends the offer, applies the gateway's
// answer and waits for the gateway's INVITE to reach the fake trunk.
func (b *browser) dial(t *testing.T, number string) *outboundCall {
	t.Helper()

	return b.dialWith(t, number, newBrowserPeer(t))
}

// dialWith is dial with a PeerConnection the caller prepared.
func (b *browser) dialWith(t *testing.T, number string, peer *browserPeer) *outboundCall {
	t.Helper()
	c := &outboundCall{id: newCallID(), peer: peer}
	b.ws.send(t, signaling.Dial{ID: c.id, To: number, SDP: c.peer.offer(t), Ref: c.id})
	m := b.ws.expect(t, stepTimeout, "answer to dial "+c.id, anyMessageAbout(c.id))
	ans, ok := m.(signaling.Answer)
	if !ok {
		t.Fatalf("dial %s: expected answer first, got %s", number, describe([]signaling.Message{m}))
	}
	c.peer.applyAnswer(t, ans.SDP)
	c.trunk = b.env.trunk.waitCallTo(t, number, stepTimeout)

	return c
}

// dialConnected places a call the trunk answers and waits until audio
// flows both ways: the trunk hears the browser's tone and the browser the
// trunk's, neither its own.
func (b *browser) dialConnected(t *testing.T, number string) *outboundCall {
	t.Helper()
	c := b.dial(t, number)
	b.connectedBothWays(t, c)

	return c
}

// connectedBothWays waits until the trunk answered call c, the browser was
// told so, and audio flows both ways.
func (b *browser) connectedBothWays(t *testing.T, c *outboundCall) {
	t.Helper()
	c.trunk.waitAnswered(t, stepTimeout)
	b.ws.expect(t, stepTimeout, "connected "+c.id, isConnected(c.id))
	c.peer.waitConnected(t, stepTimeout)
	waitTone(t, "trunk", c.trunk.media.heard, 0, browserToneHz, trunkToneHz)
	waitTone(t, "browser", c.peer.heard, 0, trunkToneHz, browserToneHz)
}

// inboundCall is a call the trunk placed to a DID, seen from both ends.
type inboundCall struct {
	id    string // the gateway's call id, from incoming
	peer  *browserPeer
	trunk *trunkCall
}

// expectIncoming waits for the announcement of an inbound call to did.
func (b *browser) expectIncoming(t *testing.T, did string) signaling.Incoming {
	t.Helper()
	in := b.ws.expect(t, stepTimeout, "incoming call to "+did, func(m signaling.Message) bool {
		i, ok := m.(signaling.Incoming)
		return ok && i.To == did
	}).(signaling.Incoming)
	if in.CallID == "" {
		t.Fatal("incoming without call_id")
	}

	return in
}

// accept answers the ringing inbound call id with a fresh PeerConnection.
func (b *browser) accept(t *testing.T, id string) *browserPeer {
	t.Helper()
	peer := newBrowserPeer(t)
	b.ws.send(t, signaling.Accept{CallID: id, SDP: peer.offer(t), Ref: "accept-" + id})
	m := b.ws.expect(t, stepTimeout, "answer to accept "+id, anyMessageAbout(id))
	ans, ok := m.(signaling.Answer)
	if !ok {
		t.Fatalf("accept %s: expected answer first, got %s", id, describe([]signaling.Message{m}))
	}
	peer.applyAnswer(t, ans.SDP)

	return peer
}

// receiveConnected has the trunk call did, the browser accept, and waits
// until audio flows both ways.
func (b *browser) receiveConnected(t *testing.T, did string) *inboundCall {
	t.Helper()
	tc := b.env.trunk.dial(t, b.env.sipAddr.String(), did, callOptions{from: "+15557770001", fromName: "Trunk Caller"})
	tc.waitRinging(t, stepTimeout)
	in := b.expectIncoming(t, did)
	c := &inboundCall{id: in.CallID, trunk: tc}
	c.peer = b.accept(t, in.CallID)
	b.ws.expect(t, stepTimeout, "connected "+c.id, isConnected(c.id))
	tc.waitAnswered(t, stepTimeout)
	c.peer.waitConnected(t, stepTimeout)
	waitTone(t, "trunk", tc.media.heard, 0, browserToneHz, trunkToneHz)
	waitTone(t, "browser", c.peer.heard, 0, trunkToneHz, browserToneHz)

	return c
}

// waitCallTo waits for the gateway's INVITE to number (compared without a
// leading "+", since the trunk's number format decides it) and returns that
// call.
func (ft *fakeTrunk) waitCallTo(t *testing.T, number string, timeout time.Duration) *trunkCall {
	t.Helper()
	want := strings.TrimPrefix(number, "+")
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ft.mu.Lock()
		seen := ft.reqSeen
		for _, c := range ft.calls {
			if c.uas != nil && strings.TrimPrefix(c.number, "+") == want {
				ft.mu.Unlock()
				return c
			}
		}
		ft.mu.Unlock()
		select {
		case <-seen:
		case <-deadline.C:
			t.Fatalf("fake trunk: no INVITE for %s within %v; received %s", number, timeout, ft.summary())
			return nil
		}
	}
}

// stillHearing asserts that, from now on, both ends of a running call keep
// hearing each other's tone (and only that): the call survived whatever the
// test did beside it.
func stillHearing(t *testing.T, peer *browserPeer, tc *trunkCall) {
	t.Helper()
	waitTone(t, "trunk", tc.media.heard, tc.media.heard.len(), browserToneHz, trunkToneHz)
	waitTone(t, "browser", peer.heard, peer.heard.len(), trunkToneHz, browserToneHz)
}
