package sip

import (
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
// that sipp cannot script (a 200 crossing a CANCEL, a retransmitted INVITE, a lost ACK).
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort

	mu      sync.Mutex
	sources map[netip.AddrPort]int // messages received per source address
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), sources: map[netip.AddrPort]int{}}
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

// sendTo writes a message to dst.
func (p *rawPeer) sendTo(m sipmsg.Message, dst netip.AddrPort) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(m.String()), dst); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
}

// sendRaw writes raw text to dst.
func (p *rawPeer) sendRaw(text string, dst netip.AddrPort) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(strings.ReplaceAll(text, "\n", "\r\n")), dst); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
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

// await skips other messages until a request of method arrives; it does not fail the test.
func (p *rawPeer) await(method sipmsg.RequestMethod, d time.Duration) (*sipmsg.Request, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, err := p.read(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if req, ok := m.(*sipmsg.Request); ok && req.Method == method {
			return req, nil
		}
	}
	return nil, fmt.Errorf("peer: no %s within %v", method, d)
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

// expectResponse skips other messages until a response with code for method arrives.
func (p *rawPeer) expectResponse(code int, method sipmsg.RequestMethod, d time.Duration) *sipmsg.Response {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := p.recv(time.Until(deadline))
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode == code && res.CSeq().MethodName == method {
			return res
		}
	}
	p.t.Fatalf("peer: no %d for %s within %v", code, method, d)
	return nil
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

// ackFor builds the ACK for a 2xx the peer received to its INVITE (RFC 3261 section 13.2.2.4).
func (p *rawPeer) ackFor(inv *sipmsg.Request, res *sipmsg.Response) *sipmsg.Request {
	ack := sipmsg.NewRequest(sipmsg.ACK, res.Contact().Address)
	ack.AppendHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-ack-%d", p.addr, time.Now().UnixNano())))
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
	req := sipmsg.NewRequest(method, res.Contact().Address)
	req.AppendHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", p.addr, method, time.Now().UnixNano())))
	req.AppendHeader(inv.From())
	req.AppendHeader(res.To())
	req.AppendHeader(inv.CallID())
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: int(p.addr.Port())}})
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	return req
}
