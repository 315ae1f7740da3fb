package integration

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// Tone frequencies of the two parties, in Hz: each side sends its own and
// expects to hear only the other's.
const (
	browserToneHz = gobrowser.DefaultToneHz
	trunkToneHz   = faketrunk.DefaultToneHz
)

// stepTimeout bounds one signaling or SIP step that a test times itself.
const stepTimeout = ear.WaitTimeout

// browser is one Go browser tab (internal/gobrowser): an authenticated
// WebSocket and the peers of its calls.
type browser struct {
	env  *env
	ws   *gobrowser.Client
	user string
}

// login opens a tab and authenticates it as user with the configured
// password; it fails the test unless the gateway confirms.
func (e *env) login(t *testing.T, user string) *browser {
	t.Helper()
	b := &browser{env: e, ws: gobrowser.Connect(t, e.wsURL()), user: user}
	b.ws.Login(t, user, testPassword)

	return b
}

// loginJWT opens a tab and authenticates it with a fresh token for user.
func (e *env) loginJWT(t *testing.T, user string) *browser {
	t.Helper()
	b := &browser{env: e, ws: gobrowser.Connect(t, e.wsURL()), user: user}
	b.ws.LoginToken(t, user, token(t, jwtKey, user, time.Hour))

	return b
}

// newPeer is a Go browser's PeerConnection sending the browser's tone in
// Opus.
func newPeer(t *testing.T) *gobrowser.Peer {
	t.Helper()

	return gobrowser.NewPeer(t, gobrowser.PeerOptions{})
}

// callIDs makes call ids unique within the test binary.
var callIDs atomic.Int64

// newCallID returns a fresh client-chosen call id.
func newCallID() string { return fmt.Sprintf("call-%d", callIDs.Add(1)) }

// testCall is a call between the browser and the trunk, seen from both
// ends; id is the browser's call id.
type testCall struct {
	id    string
	peer  *gobrowser.Peer
	trunk *faketrunk.Call
}

// dialTrickle places a call to number with an offer that has no
// candidates, then sends the browser's candidates one by one in candidate
// messages, ending with the end-of-candidates indication (an empty
// candidate), as a browser trickling ICE does (RFC 8838).
func (b *browser) dialTrickle(t *testing.T, number string) *testCall {
	t.Helper()
	c := &testCall{id: newCallID(), peer: newPeer(t)}
	offer, cands := c.peer.OfferTrickle(t)
	if strings.Contains(offer, "a=candidate") {
		t.Fatal("trickle offer already carries candidates")
	}
	b.ws.Send(t, signaling.Dial{ID: c.id, To: number, SDP: offer, Ref: c.id})
	c.peer.ApplyAnswer(t, b.ws.ExpectAnswer(t, c.id).SDP)
	sent := 0
	timeout := time.After(stepTimeout)
	for done := false; !done; {
		select {
		case ci, ok := <-cands:
			if !ok {
				done = true

				break
			}
			b.ws.Send(t, signaling.Candidate{CallID: c.id, Candidate: signaling.ICECandidate{
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
	b.ws.Send(t, signaling.Candidate{CallID: c.id, Candidate: signaling.ICECandidate{Candidate: "", SDPMid: &mid}})
	c.trunk = b.env.trunk.WaitCallTo(t, number)

	return c
}

// dial places a call to number: it sends the offer, applies the gateway's
// answer and waits for the gateway's INVITE to reach the fake trunk.
func (b *browser) dial(t *testing.T, number string) *testCall {
	t.Helper()

	return b.dialWith(t, number, newPeer(t))
}

// dialWith is dial with a peer the caller prepared.
func (b *browser) dialWith(t *testing.T, number string, peer *gobrowser.Peer) *testCall {
	t.Helper()
	c := &testCall{id: newCallID(), peer: peer}
	b.ws.Dial(t, c.id, number, peer)
	c.trunk = b.env.trunk.WaitCallTo(t, number)

	return c
}

// dialConnected places a call the trunk answers and waits until audio
// flows both ways: the trunk hears the browser's tone and the browser the
// trunk's, neither its own.
func (b *browser) dialConnected(t *testing.T, number string) *testCall {
	t.Helper()
	c := b.dial(t, number)
	b.connectedBothWays(t, c)

	return c
}

// connectedBothWays waits until the trunk answered call c, the browser was
// told so, and audio flows both ways.
func (b *browser) connectedBothWays(t *testing.T, c *testCall) {
	t.Helper()
	c.trunk.WaitAnswered(t)
	b.ws.Expect(t, "connected "+c.id, gobrowser.Is[signaling.Connected](c.id))
	c.peer.WaitConnected(t)
	stillHearing(t, c.peer, c.trunk)
}

// accept answers the ringing inbound call id with a fresh peer.
func (b *browser) accept(t *testing.T, id string) *gobrowser.Peer {
	t.Helper()
	peer := newPeer(t)
	b.ws.Accept(t, id, peer)

	return peer
}

// receiveConnected has the trunk call did, the browser accept, and waits
// until audio flows both ways. It returns the gateway's call id, the
// browser's peer and the trunk's call.
func (b *browser) receiveConnected(t *testing.T, did string) *testCall {
	t.Helper()
	tc := b.env.trunk.Dial(t, b.env.sipAddr, did, faketrunk.DialOptions{From: "+15557770001", FromName: "Trunk Caller"})
	tc.WaitRinging(t)
	in := b.ws.ExpectIncoming(t, did)
	c := &testCall{id: in.CallID, trunk: tc}
	c.peer = b.accept(t, in.CallID)
	b.ws.Expect(t, "connected "+c.id, gobrowser.Is[signaling.Connected](c.id))
	tc.WaitAnswered(t)
	c.peer.WaitConnected(t)
	stillHearing(t, c.peer, tc)

	return c
}

// stillHearing asserts that, from now on, both ends of a running call keep
// hearing each other's tone (and only that): the call survived whatever the
// test did beside it.
func stillHearing(t *testing.T, peer *gobrowser.Peer, tc *faketrunk.Call) {
	t.Helper()
	tc.Heard().WaitTone(t, "trunk", tc.Heard().Len(), browserToneHz, trunkToneHz)
	peer.Heard().WaitTone(t, "browser", peer.Heard().Len(), trunkToneHz, browserToneHz)
}
