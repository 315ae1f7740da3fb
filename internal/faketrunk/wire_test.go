package faketrunk

import (
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestWireStranger: a wire at 127.0.0.2 resends a request the trunk's wire
// built; it arrives from the stranger's address with the stranger's Via
// and the trunk's dialog, and its answer, sent where the Via says, is the
// stranger's Final. Bytes that are no SIP message arrive as they were
// sent, and Final is nil when nothing is answered.
func TestWireStranger(t *testing.T) {
	t.Parallel()
	trunk := NewWire(t)
	uas := NewWire(t)
	stranger := NewWireAt(t, netip.MustParseAddr("127.0.0.2"))
	if got := stranger.Addr().Addr(); got != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("stranger bound on %s", got)
	}

	target := sipmsg.Uri{Scheme: "sip", User: "gw", Host: "127.0.0.1", Port: int(uas.Addr().Port())}
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1"}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", "fromtag")
	to := &sipmsg.ToHeader{Address: target, Params: sipmsg.NewParams()}
	to.Params.Add("tag", "totag")
	callID := sipmsg.CallIDHeader("wire-test")
	bye := trunk.DialogRequest(sipmsg.BYE, target, from, to, &callID, 9, nil)
	if c := bye.Contact(); c == nil || c.Address.Host != "127.0.0.1" || c.Address.Port != int(trunk.Addr().Port()) {
		t.Errorf("trunk's Contact %v, want its own address", c)
	}

	stranger.Resend(bye, uas.Addr())
	got := uas.ExpectRequest(sipmsg.BYE, 5*time.Second)
	via := got.Via()
	if via == nil || via.Host != "127.0.0.2" || via.Port != int(stranger.Addr().Port()) || via.Transport != "UDP" {
		t.Fatalf("resent BYE's Via %v, want the stranger's", via)
	}
	if len(got.GetHeaders("Via")) != 1 || got.CallID().Value() != "wire-test" || got.CSeq().SeqNo != 9 {
		t.Fatalf("resent BYE is not the trunk's with one Via:\n%s", got)
	}
	if src := uas.Sources(); src[stranger.Addr()] != 1 || len(src) != 1 {
		t.Errorf("sources %v, want one message from %s", src, stranger.Addr())
	}

	uas.Send(sipmsg.NewResponseFromRequest(got, 403, "Forbidden", nil), netip.AddrPortFrom(netip.MustParseAddr(via.Host), uint16(via.Port))) //nolint:gosec // a port
	if res := stranger.Final(5 * time.Second); res == nil || res.StatusCode != 403 || !Answers(res, bye) {
		t.Fatalf("stranger's final response %v, want the 403 to the BYE", res)
	}
	if res := stranger.Final(100 * time.Millisecond); res != nil {
		t.Fatalf("Final %v with nothing sent", res)
	}

	stranger.SendBytes([]byte("not SIP"), uas.Addr())
	if m, err := uas.Read(5 * time.Second); err == nil {
		t.Fatalf("junk datagram read as %v", m)
	}
}
