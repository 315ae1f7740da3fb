package gateway

import (
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// The gateway's tests drive it with the Go browser of internal/gobrowser
// (a signaling client and pion peers sending a 440 Hz tone) and the fake
// trunk of internal/faketrunk (answering by plan, sending a 1 kHz tone).

// newTab opens a browser tab's signaling connection to the gateway.
func newTab(t *testing.T, e *env) *gobrowser.Client {
	t.Helper()

	return gobrowser.Connect(t, "ws://"+e.http+"/ws")
}

// login opens a tab and authenticates it as user with the test password.
func login(t *testing.T, e *env, user string) *gobrowser.Client {
	t.Helper()
	b := newTab(t, e)
	b.Login(t, user, testPassword)

	return b
}

// expect takes b's next message, skipping pongs, and fails unless it is a
// T.
func expect[T signaling.Message](t *testing.T, b *gobrowser.Client) T {
	t.Helper()

	return gobrowser.Next[T](t, b)
}

// expectProgress is expect skipping ringing and progress as well.
func expectProgress[T signaling.Message](t *testing.T, b *gobrowser.Client) T {
	t.Helper()

	return gobrowser.Next[T](t, b, signaling.TypeRinging, signaling.TypeProgress)
}

// dial places call id to number from a new Opus peer and returns the peer
// once the gateway has answered it.
func dial(t *testing.T, b *gobrowser.Client, id, to string) *gobrowser.Peer {
	t.Helper()
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Dial(t, id, to, p)

	return p
}

// callUp has alice dial +15550123 as call c1, which the fake trunk
// answers, and returns her tab, her peer and the trunk's call once the
// gateway said connected.
func callUp(t *testing.T, e *env) (*gobrowser.Client, *gobrowser.Peer, *faketrunk.Call) {
	t.Helper()

	return callUpVia(t, e, e.trunk)
}

// callUpVia is callUp for a call that trunk tr takes (a backup trunk of
// a failover test).
func callUpVia(t *testing.T, e *env, tr *faketrunk.Trunk) (*gobrowser.Client, *gobrowser.Peer, *faketrunk.Call) {
	t.Helper()
	b := login(t, e, "alice")
	p := dial(t, b, "c1", "+15550123")
	tc := tr.NextCall(t)
	expectProgress[signaling.Connected](t, b)

	return b, p, tc
}

// accept answers the ringing inbound call id from a new Opus peer.
func accept(t *testing.T, b *gobrowser.Client, id string) *gobrowser.Peer {
	t.Helper()
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Accept(t, id, p)

	return p
}

// offer is the complete offer of a new Opus peer that is never answered.
func offer(t *testing.T) string {
	t.Helper()

	return gobrowser.NewPeer(t, gobrowser.PeerOptions{}).Offer(t)
}

// trunkDial has the fake trunk call the gateway's DID did as Bob,
// +15551230000.
func trunkDial(t *testing.T, e *env, did string) *faketrunk.Call {
	t.Helper()

	return e.trunk.Dial(t, e.sip, did, faketrunk.DialOptions{From: "+15551230000", FromName: "Bob"})
}
