package gobrowser

import (
	"net/netip"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// RestartOffer creates the peer's offer for an ICE restart (new ICE
// credentials, RFC 8445 section 2.4) with all its candidates in it. The
// agent gathers anew, so its host candidates move to new sockets: the
// peer's address changes as a browser's does when its network changes.
func (p *Peer) RestartOffer(tb testing.TB) string {
	tb.Helper()
	o, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		tb.Fatalf("create restart offer: %v", err)
	}

	return setComplete(tb, p.pc, o).SDP
}

// ApplyRestartAnswer sets the gateway's answer to a restart offer.
func (p *Peer) ApplyRestartAnswer(tb testing.TB, sdp string) {
	tb.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		tb.Fatalf("set remote description (restart answer): %v\n%s", err, sdp)
	}
}

// LocalAddr is the local address of the peer's selected candidate pair,
// the zero value while none is selected.
func (p *Peer) LocalAddr() netip.AddrPort {
	for _, s := range p.pc.GetSenders() {
		pair, err := s.Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			continue
		}
		a, err := netip.ParseAddr(pair.Local.Address)
		if err != nil {
			continue
		}

		return netip.AddrPortFrom(a, pair.Local.Port)
	}

	return netip.AddrPort{}
}

// RestartICE restarts ICE on call id: it sends p's restart offer and
// applies the gateway's answer, which must be the next message about the
// call.
func (c *Client) RestartICE(tb testing.TB, id string, p *Peer) signaling.ICERestarted {
	tb.Helper()
	c.Send(tb, signaling.ICERestart{CallID: id, SDP: p.RestartOffer(tb), Ref: "restart-" + id})
	m := c.Expect(tb, "ice_restarted for "+id, func(m signaling.Message) bool {
		switch m := m.(type) {
		case signaling.ICERestarted:
			return m.CallID == id
		case signaling.ErrorReply:
			return m.CallID == id
		}

		return false
	})
	r, ok := m.(signaling.ICERestarted)
	if !ok {
		tb.Fatalf("ice restart of %s: got %s", id, Describe([]signaling.Message{m}))
	}
	p.ApplyRestartAnswer(tb, r.SDP)

	return r
}
