package sip

import (
	"context"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// The trunk the tests stage races with is a faketrunk.Wire: a UDP socket
// speaking SIP message by message without a transaction layer, that skips
// retransmissions of requests it has handed over. The helpers below tie it
// to this package's user agent.

// newWirePeer binds a Wire; at the end of the test it checks that
// everything the user agent sent left from its one listening socket, since
// a carrier accepts responses and in-dialog requests only from the address
// it sends to.
func newWirePeer(t *testing.T) *faketrunk.Wire {
	t.Helper()
	p := faketrunk.NewWire(t)
	t.Cleanup(func() {
		if s := p.Sources(); len(s) > 1 {
			t.Errorf("peer received messages from %d addresses %v, want one (the listener)", len(s), s)
		}
	})

	return p
}

// dialingUA serves a user agent whose trunk "carrier" is a new Wire peer.
func dialingUA(t *testing.T) (*faketrunk.Wire, *testEnv) {
	t.Helper()
	return dialingUAWith(t, nil)
}

// dialingUAWith is dialingUA with the trunk (wireTrunk) changed by edit, when not nil, first.
func dialingUAWith(t *testing.T, edit func(*Trunk)) (*faketrunk.Wire, *testEnv) {
	t.Helper()
	peer := newWirePeer(t)
	return peer, startUAWithTrunk(t, wireTrunk(peer), edit)
}

// inboundUA serves a user agent whose trunk "carrier" (inboundTrunk, changed by edit when not
// nil) takes calls from 127.0.0.1, and returns a new Wire peer there to place them.
func inboundUA(t *testing.T, edit func(*Trunk)) (*faketrunk.Wire, *testEnv) {
	t.Helper()
	peer := newWirePeer(t)
	return peer, startUAWithTrunk(t, inboundTrunk(), edit)
}

// startUAWithTrunk serves a user agent whose only trunk is tr, changed by edit when not nil.
func startUAWithTrunk(t *testing.T, tr Trunk, edit func(*Trunk)) *testEnv {
	t.Helper()
	if edit != nil {
		edit(&tr)
	}
	return startUA(t, Config{Trunks: []Trunk{tr}})
}

// wireTrunk is a trunk of the user agent that sends to the peer.
func wireTrunk(p *faketrunk.Wire) Trunk {
	return Trunk{Name: "carrier", Host: "127.0.0.1", Port: int(p.Addr().Port())}
}

// acceptHangup hangs up call while the peer answers the BYE, and checks both ends of it.
func acceptHangup(t *testing.T, p *faketrunk.Wire, call *Call, gw netip.AddrPort) {
	t.Helper()
	byeAnswered := p.AnswerBye(gw)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if err := <-byeAnswered; err != nil {
		t.Errorf("trunk got no BYE: %v", err)
	}
}

// dialPeer places an outbound call to peer, which answers with a PCMU sendrecv SDP; it returns
// the call and the INVITE and 200 that set up the dialog.
func dialPeer(t *testing.T, env *testEnv, peer *faketrunk.Wire, rtpPort int) (*Call, *sipmsg.Request, *sipmsg.Response) {
	t.Helper()
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321"})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	ok := peer.Reply(inv, 200, "OK", faketrunk.PCMUSDP(rtpPort, "sendrecv"))
	peer.Send(ok, env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	return r.call, inv, ok
}

// peerRequest builds a request of the peer (the UAS of our INVITE) inside the dialog.
func peerRequest(p *faketrunk.Wire, method sipmsg.RequestMethod, inv *sipmsg.Request, ok *sipmsg.Response, cseq uint32, body []byte) *sipmsg.Request {
	from, to := ok.To().AsFrom(), inv.From().AsTo()
	return p.DialogRequest(method, inv.Contact().Address, &from, &to, inv.CallID(), cseq, body)
}
