package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// rawPeer is a trunk played by the test on a UDP socket, using sipgo's message parser and
// builders but no transaction layer: it decides exactly what is sent and when, to stage races
// that sipp cannot script (a 200 crossing a CANCEL, a retransmitted INVITE, a lost ACK). Like a
// transaction layer it takes each request once: retransmissions of a request it has returned
// (same method, Via branch and CSeq, RFC 3261 section 17.2.3) are skipped, so that a slow test
// never mistakes one for the next request.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort

	mu      sync.Mutex
	sources map[netip.AddrPort]int // messages received per source address
	taken   map[string]bool        // requests returned by await, by transactionKey
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), sources: map[netip.AddrPort]int{}, taken: map[string]bool{}}
	t.Cleanup(func() {
		c.Close()
		// A carrier accepts responses and in-dialog requests only from the address it sends
		// to: everything the user agent sent must have left from its one listening socket.
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.sources) > 1 {
			t.Errorf("peer received messages from %d addresses %v, want one (the listener)", len(p.sources), p.sources)
		}
	})
	return p
}

// trunk is a trunk of the user agent that sends to the peer.
func (p *rawPeer) trunk() Trunk {
	return Trunk{Name: "carrier", Host: "127.0.0.1", Port: int(p.addr.Port())}
}

// sendTo writes a message to dst.
func (p *rawPeer) sendTo(m sipmsg.Message, dst netip.AddrPort) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(m.String()), dst); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
}

// sendRaw writes a request written as text with lines ending in "\n" to dst, and returns it parsed.
func (p *rawPeer) sendRaw(text string, dst netip.AddrPort) *sipmsg.Request {
	p.t.Helper()
	wire := []byte(strings.ReplaceAll(text, "\n", "\r\n"))
	msg, err := sipmsg.ParseMessage(wire)
	if err != nil {
		p.t.Fatalf("peer request does not parse: %v\n%s", err, text)
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok {
		p.t.Fatalf("peer text is not a request:\n%s", text)
	}
	if _, err := p.conn.WriteToUDPAddrPort(wire, dst); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
	return req
}

// read returns the next message, nil after d; it does not fail the test, so it may run in
// another goroutine.
func (p *rawPeer) read(d time.Duration) (sipmsg.Message, error) {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, src, err := p.conn.ReadFromUDPAddrPort(buf)
	if err == nil {
		p.mu.Lock()
		p.sources[src]++
		p.mu.Unlock()
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil
		}
		return nil, err
	}
	m, err := sipmsg.ParseMessage(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("unparsable message: %w\n%s", err, buf[:n])
	}
	return m, nil
}

// recv returns the next message, or nil after d.
func (p *rawPeer) recv(d time.Duration) sipmsg.Message {
	p.t.Helper()
	m, err := p.read(d)
	if err != nil {
		p.t.Fatalf("peer read: %v", err)
	}
	return m
}

// await skips other messages, and retransmissions of requests it returned before, until a new
// request of method arrives; it does not fail the test.
func (p *rawPeer) await(method sipmsg.RequestMethod, d time.Duration) (*sipmsg.Request, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, err := p.read(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if req, ok := m.(*sipmsg.Request); ok && req.Method == method && p.take(req) {
			return req, nil
		}
	}
	return nil, fmt.Errorf("peer: no %s within %v", method, d)
}

// take marks req as taken; false when it is a retransmission of a request taken before.
func (p *rawPeer) take(req *sipmsg.Request) bool {
	key := transactionKey(req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken[key] {
		return false
	}
	p.taken[key] = true
	return true
}

// retransmitted reports whether req repeats a request the peer has taken.
func (p *rawPeer) retransmitted(req *sipmsg.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken[transactionKey(req)]
}

// transactionKey identifies the transaction of a request: method, top Via branch and CSeq
// number are the same in its retransmissions (RFC 3261 section 17.2.3).
func transactionKey(req *sipmsg.Request) string {
	branch := ""
	if via := req.Via(); via != nil {
		branch, _ = via.Params.Get("branch")
	}
	var seq uint32
	if cseq := req.CSeq(); cseq != nil {
		seq = cseq.SeqNo
	}
	return fmt.Sprintf("%s %s %d", req.Method, branch, seq)
}

// expectRequest skips other messages until a request of method arrives (or fails after d).
func (p *rawPeer) expectRequest(method sipmsg.RequestMethod, d time.Duration) *sipmsg.Request {
	p.t.Helper()
	req, err := p.await(method, d)
	if err != nil {
		p.t.Fatal(err)
	}
	return req
}

// answerBye answers the next BYE with 200 OK in the background, for tests whose own goroutine
// is blocked in a hang-up meanwhile. The channel reports the outcome; check it in the test.
func (p *rawPeer) answerBye(dst netip.AddrPort) <-chan error {
	done := make(chan error, 1)
	go func() {
		bye, err := p.await(sipmsg.BYE, 5*time.Second)
		if err == nil {
			_, err = p.conn.WriteToUDPAddrPort([]byte(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil).String()), dst)
		}
		done <- err
	}()
	return done
}

// acceptHangup hangs up call while the peer answers the BYE, and checks both ends of it.
func (p *rawPeer) acceptHangup(call *Call, gw netip.AddrPort) {
	p.t.Helper()
	byeAnswered := p.answerBye(gw)
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	if err := call.Hangup(ctx); err != nil {
		p.t.Errorf("Hangup: %v", err)
	}
	if err := <-byeAnswered; err != nil {
		p.t.Errorf("trunk got no BYE: %v", err)
	}
}

// expectResponse skips other messages until a response with code to req arrives (same Call-ID
// and CSeq): a retransmitted response to an earlier request does not count.
func (p *rawPeer) expectResponse(req *sipmsg.Request, code int, d time.Duration) *sipmsg.Response {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := p.recv(time.Until(deadline))
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode == code && answers(res, req) {
			return res
		}
	}
	p.t.Fatalf("peer: no %d to %s CSeq %d within %v", code, req.Method, req.CSeq().SeqNo, d)
	return nil
}

// answers reports whether res is a response to req: same Call-ID, CSeq number and method.
func answers(res *sipmsg.Response, req *sipmsg.Request) bool {
	rc, qc := res.CSeq(), req.CSeq()
	return rc != nil && qc != nil && rc.SeqNo == qc.SeqNo && rc.MethodName == qc.MethodName &&
		res.CallID() != nil && req.CallID() != nil && res.CallID().Value() == req.CallID().Value()
}

// reply builds a response to req with the peer's To tag and Contact (and SDP when body is set).
func (p *rawPeer) reply(req *sipmsg.Request, code int, reason string, body []byte) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil && req.IsInvite() {
		to.Params.Add("tag", "peertag")
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 180 && code < 300 {
		res.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: int(p.addr.Port())}})
	}
	return res
}

// peerSDP is a PCMU offer/answer of the peer with RTP at port.
func peerSDP(port int, dir string) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", port, dir))
}

// inviteText is an INVITE from the peer to us with the given branch, in wire format.
func (p *rawPeer) inviteText(to netip.AddrPort, branch, callID string, sdp []byte) string {
	return fmt.Sprintf("INVITE sip:15557654321@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=%s\n"+
		"From: <sip:15551230000@127.0.0.1>;tag=from%d\n"+
		"To: <sip:15557654321@127.0.0.1>\n"+
		"Call-ID: %s\n"+
		"CSeq: 7 INVITE\n"+
		"Contact: <sip:peer@%s>\n"+
		"Max-Forwards: 70\n"+
		"Content-Type: application/sdp\n"+
		"Content-Length: %d\n\n", to, p.addr, branch, os.Getpid(), callID, p.addr, len(sdp)) +
		strings.ReplaceAll(string(sdp), "\r\n", "\n")
}

// ackFor builds the ACK for a 2xx the peer received to its INVITE (RFC 3261 section 13.2.2.4):
// a transaction of its own, sent to the Contact of the 2xx.
func (p *rawPeer) ackFor(inv *sipmsg.Request, res *sipmsg.Response) *sipmsg.Request {
	via := sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-ack-%d", p.addr, time.Now().UnixNano()))
	return ackOf(inv, res, res.Contact().Address, via)
}

// ackFailure acknowledges a failure response to the peer's INVITE (RFC 3261 section 17.1.1.3):
// part of the INVITE's transaction, with its Request-URI and Via.
func (p *rawPeer) ackFailure(inv *sipmsg.Request, res *sipmsg.Response) *sipmsg.Request {
	return ackOf(inv, res, inv.Recipient, inv.Via())
}

// ackOf builds an ACK to target for the final response res to the INVITE inv.
func ackOf(inv *sipmsg.Request, res *sipmsg.Response, target sipmsg.Uri, via sipmsg.Header) *sipmsg.Request {
	ack := sipmsg.NewRequest(sipmsg.ACK, target)
	ack.AppendHeader(via)
	ack.AppendHeader(inv.From())
	ack.AppendHeader(res.To())
	ack.AppendHeader(inv.CallID())
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sipmsg.ACK})
	ack.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	ack.SetBody(nil)
	return ack
}

// inDialog builds a request of the peer inside the dialog its INVITE and our 2xx set up.
func (p *rawPeer) inDialog(method sipmsg.RequestMethod, inv *sipmsg.Request, res *sipmsg.Response, cseq uint32, body []byte) *sipmsg.Request {
	return p.dialogRequest(method, res.Contact().Address, inv.From(), res.To(), inv.CallID(), cseq, body)
}

// dialogRequest builds a request of the peer to target inside the dialog of from, to and callID,
// with SDP when body is set.
func (p *rawPeer) dialogRequest(method sipmsg.RequestMethod, target sipmsg.Uri, from *sipmsg.FromHeader, to *sipmsg.ToHeader,
	callID *sipmsg.CallIDHeader, cseq uint32, body []byte,
) *sipmsg.Request {
	req := sipmsg.NewRequest(method, target)
	req.AppendHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", p.addr, method, time.Now().UnixNano())))
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: int(p.addr.Port())}})
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	return req
}

// dialPeer places an outbound call to peer, which answers with a PCMU sendrecv SDP; it returns
// the call and the INVITE and 200 that set up the dialog.
func dialPeer(t *testing.T, env *testEnv, peer *rawPeer, rtpPort int) (*Call, *sipmsg.Request, *sipmsg.Response) {
	t.Helper()
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321"})
	inv := peer.expectRequest(sipmsg.INVITE, 5*time.Second)
	ok := peer.reply(inv, 200, "OK", peerSDP(rtpPort, "sendrecv"))
	peer.sendTo(ok, env.addr)
	peer.expectRequest(sipmsg.ACK, 5*time.Second)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	return r.call, inv, ok
}

// peerRequest builds a request of the peer (the UAS of our INVITE) inside the dialog.
func (p *rawPeer) peerRequest(method sipmsg.RequestMethod, inv *sipmsg.Request, ok *sipmsg.Response, cseq uint32, body []byte) *sipmsg.Request {
	from, to := ok.To().AsFrom(), inv.From().AsTo()
	return p.dialogRequest(method, inv.Contact().Address, &from, &to, inv.CallID(), cseq, body)
}
