package faketrunk

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

// Wire is a trunk the test drives message by message on one UDP socket of
// 127.0.0.1, with sipgo's message parser and builders but no transaction
// layer: it decides exactly what is sent and when, to stage races a
// well-behaved user agent never produces (a 200 crossing a CANCEL, a
// retransmitted INVITE, a lost ACK). Like a transaction layer it takes
// each request once: retransmissions of a request it has returned (same
// method, Via branch and CSeq, RFC 3261 section 17.2.3) are skipped, so
// that a slow test never mistakes one for the next request. Its methods
// that take no testing.TB may run in any goroutine.
type Wire struct {
	tb   testing.TB
	conn *net.UDPConn
	addr netip.AddrPort

	mu      sync.Mutex
	sources map[netip.AddrPort]int // messages received per source address
	taken   map[string]bool        // requests returned by Await, by TransactionKey
}

// NewWire binds the socket on 127.0.0.1, port 0; it is closed by
// t.Cleanup.
func NewWire(tb testing.TB) *Wire {
	tb.Helper()

	return NewWireAt(tb, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
}

// NewWireAt binds the socket on ip (an IPv4 loopback address such as
// 127.0.0.2), port 0; it is closed by t.Cleanup. A wire at an address
// other than the trunk's plays a stranger that sends the trunk's requests
// (Resend) to the code under test.
func NewWireAt(tb testing.TB, ip netip.Addr) *Wire {
	tb.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		tb.Fatal(err)
	}
	w := &Wire{tb: tb, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), sources: map[netip.AddrPort]int{}, taken: map[string]bool{}} //nolint:forcetypeassert // a UDP socket
	tb.Cleanup(func() { _ = c.Close() })

	return w
}

// Addr is the socket's address.
func (w *Wire) Addr() netip.AddrPort { return w.addr }

// Sources returns how many messages arrived from each source address so
// far: a carrier accepts responses and in-dialog requests only from the
// address it sends to, so a user agent should send from one.
func (w *Wire) Sources() map[netip.AddrPort]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[netip.AddrPort]int, len(w.sources))
	for k, v := range w.sources {
		out[k] = v
	}

	return out
}

// Send writes m to dst.
func (w *Wire) Send(m sipmsg.Message, dst netip.AddrPort) {
	w.tb.Helper()
	if _, err := w.conn.WriteToUDPAddrPort([]byte(m.String()), dst); err != nil {
		w.tb.Fatalf("wire send: %v", err)
	}
}

// SendBytes writes data to dst as one datagram, as it is: a message too
// large for the other side, or bytes that are no SIP message at all.
func (w *Wire) SendBytes(data []byte, dst netip.AddrPort) {
	w.tb.Helper()
	if _, err := w.conn.WriteToUDPAddrPort(data, dst); err != nil {
		w.tb.Fatalf("wire send: %v", err)
	}
}

// Resend writes to dst a copy of req, a request another party built (the
// trunk's, inside its dialog), whose Via is the wire's own with a new
// branch instead of req's: the request comes from the wire's address and
// its answers come back to the wire (RFC 3261 section 18.2.2).
func (w *Wire) Resend(req *sipmsg.Request, dst netip.AddrPort) {
	w.tb.Helper()
	w.Send(WithVia(req, "UDP", w.addr), dst)
}

// WithVia returns a copy of req whose only Via is a hop over transport
// ("UDP", "TCP") from addr, with a new branch (RFC 3261 section 8.1.1.7),
// for a request that another party built and that addr sends.
func WithVia(req *sipmsg.Request, transport string, addr netip.AddrPort) *sipmsg.Request {
	req = req.Clone()
	req.RemoveHeader("Via")
	req.PrependHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/%s %s;branch=z9hG4bK-via-%d", transport, addr, time.Now().UnixNano())))

	return req
}

// SendText writes a request written as text with lines ending in "\n" to
// dst, and returns it parsed.
func (w *Wire) SendText(text string, dst netip.AddrPort) *sipmsg.Request {
	w.tb.Helper()
	wire := []byte(strings.ReplaceAll(text, "\n", "\r\n"))
	msg, err := sipmsg.ParseMessage(wire)
	if err != nil {
		w.tb.Fatalf("wire request does not parse: %v\n%s", err, text)
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok {
		w.tb.Fatalf("wire text is not a request:\n%s", text)
	}
	if _, err := w.conn.WriteToUDPAddrPort(wire, dst); err != nil {
		w.tb.Fatalf("wire send: %v", err)
	}

	return req
}

// Read returns the next message, nil after d.
func (w *Wire) Read(d time.Duration) (sipmsg.Message, error) {
	buf := make([]byte, 65535)
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	n, src, err := w.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil
		}

		return nil, fmt.Errorf("faketrunk: wire read: %w", err)
	}
	w.mu.Lock()
	w.sources[src]++
	w.mu.Unlock()
	m, err := sipmsg.ParseMessage(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("faketrunk: unparsable message: %w\n%s", err, buf[:n])
	}

	return m, nil
}

// Recv returns the next message, or nil after d.
func (w *Wire) Recv(d time.Duration) sipmsg.Message {
	w.tb.Helper()
	m, err := w.Read(d)
	if err != nil {
		w.tb.Fatal(err)
	}

	return m
}

// errNoRequest reports that Await's time ran out.
var errNoRequest = errors.New("faketrunk: no request")

// Await skips other messages, and retransmissions of requests it returned
// before, until a new request of method arrives.
func (w *Wire) Await(method sipmsg.RequestMethod, d time.Duration) (*sipmsg.Request, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, err := w.Read(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if req, ok := m.(*sipmsg.Request); ok && req.Method == method && w.take(req) {
			return req, nil
		}
	}

	return nil, fmt.Errorf("%w: %s within %v", errNoRequest, method, d)
}

// take marks req as taken; false when it is a retransmission of a request
// taken before.
func (w *Wire) take(req *sipmsg.Request) bool {
	key := TransactionKey(req)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.taken[key] {
		return false
	}
	w.taken[key] = true

	return true
}

// Retransmitted reports whether req repeats a request Await returned.
func (w *Wire) Retransmitted(req *sipmsg.Request) bool {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.taken[TransactionKey(req)]
}

// TransactionKey identifies the transaction of a request: method, top Via
// branch and CSeq number are the same in its retransmissions (RFC 3261
// section 17.2.3).
func TransactionKey(req *sipmsg.Request) string {
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

// ExpectRequest is Await failing the test after d.
func (w *Wire) ExpectRequest(method sipmsg.RequestMethod, d time.Duration) *sipmsg.Request {
	w.tb.Helper()
	req, err := w.Await(method, d)
	if err != nil {
		w.tb.Fatal(err)
	}

	return req
}

// AnswerBye answers the next BYE with 200 OK in the background, for tests
// whose own goroutine is blocked in a hang-up meanwhile. The channel
// reports the outcome; check it in the test.
func (w *Wire) AnswerBye(dst netip.AddrPort) <-chan error {
	done := make(chan error, 1)
	go func() {
		bye, err := w.Await(sipmsg.BYE, 5*time.Second)
		if err == nil {
			_, err = w.conn.WriteToUDPAddrPort([]byte(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil).String()), dst)
		}
		done <- err
	}()

	return done
}

// ExpectResponse skips other messages until a response with code to req
// arrives (same Call-ID and CSeq): a retransmitted response to an earlier
// request does not count. It fails the test after d.
func (w *Wire) ExpectResponse(req *sipmsg.Request, code int, d time.Duration) *sipmsg.Response {
	w.tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := w.Recv(time.Until(deadline))
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode == code && Answers(res, req) {
			return res
		}
	}
	w.tb.Fatalf("wire: no %d to %s CSeq %d within %v", code, req.Method, req.CSeq().SeqNo, d)

	return nil
}

// ExpectFinal skips other messages until a final response to req arrives
// and returns it; it fails the test after d.
func (w *Wire) ExpectFinal(req *sipmsg.Request, d time.Duration) *sipmsg.Response {
	w.tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := w.Recv(time.Until(deadline))
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode >= 200 && Answers(res, req) {
			return res
		}
	}
	w.tb.Fatalf("wire: no final response to %s CSeq %d within %v", req.Method, req.CSeq().SeqNo, d)

	return nil
}

// Final skips other messages until a final response to any request
// arrives and returns it, or nil when none arrives within d: the answer of
// a request the test did not keep, or none at all (an ACK is never
// answered).
func (w *Wire) Final(d time.Duration) *sipmsg.Response {
	w.tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if res, ok := w.Recv(time.Until(deadline)).(*sipmsg.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}

	return nil
}

// Answers reports whether res is a response to req: same Call-ID, CSeq
// number and method.
func Answers(res *sipmsg.Response, req *sipmsg.Request) bool {
	rc, qc := res.CSeq(), req.CSeq()

	return rc != nil && qc != nil && rc.SeqNo == qc.SeqNo && rc.MethodName == qc.MethodName &&
		res.CallID() != nil && req.CallID() != nil && res.CallID().Value() == req.CallID().Value()
}

// contact is the wire's Contact.
func (w *Wire) contact() *sipmsg.ContactHeader {
	return &sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "peer", Host: w.addr.Addr().String(), Port: int(w.addr.Port())}}
}

// Reply builds a response to req with the wire's To tag "peertag" (for
// INVITEs) and Contact (for 18x and 2xx), and SDP when body is set.
func (w *Wire) Reply(req *sipmsg.Request, code int, reason string, body []byte) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil && req.IsInvite() {
		to.Params.Add("tag", "peertag")
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 180 && code < 300 {
		res.AppendHeader(w.contact())
	}

	return res
}

// PCMUSDP is a PCMU offer or answer of the wire's side with RTP at port
// and telephone-event 101, in direction dir.
func PCMUSDP(port int, dir string) []byte {
	return fmt.Appendf(nil, "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", port, dir)
}

// InviteText is an INVITE from the wire to to for number, with the given
// branch and Call-ID, in wire format (lines ending in "\n", for
// SendText).
func (w *Wire) InviteText(to netip.AddrPort, number, branch, callID string, sdp []byte) string {
	return fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=%s\n"+
		"From: <sip:15551230000@127.0.0.1>;tag=from%d\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: %s\n"+
		"CSeq: 7 INVITE\n"+
		"Contact: <sip:peer@%s>\n"+
		"Max-Forwards: 70\n"+
		"Content-Type: application/sdp\n"+
		"Content-Length: %d\n\n", number, to, w.addr, branch, os.Getpid(), number, callID, w.addr, len(sdp)) +
		strings.ReplaceAll(string(sdp), "\r\n", "\n")
}

// ACKFor builds the ACK for a 2xx the wire received to its INVITE (RFC
// 3261 section 13.2.2.4): a transaction of its own, sent to the Contact of
// the 2xx.
func (w *Wire) ACKFor(inv *sipmsg.Request, res *sipmsg.Response) *sipmsg.Request {
	via := sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-ack-%d", w.addr, time.Now().UnixNano()))

	return ackOf(inv, res, res.Contact().Address, via)
}

// ACKFailure acknowledges a failure response to the wire's INVITE (RFC
// 3261 section 17.1.1.3): part of the INVITE's transaction, with its
// Request-URI and Via.
func (w *Wire) ACKFailure(inv *sipmsg.Request, res *sipmsg.Response) *sipmsg.Request {
	return ackOf(inv, res, inv.Recipient, inv.Via())
}

// CancelOf builds the CANCEL of the INVITE inv (RFC 3261 section 9.1): its
// Request-URI, top Via, From, To, Call-ID and CSeq number.
func CancelOf(inv *sipmsg.Request) *sipmsg.Request {
	return inviteFollowUp(sipmsg.CANCEL, inv, inv.To(), inv.Recipient, inv.Via().Clone())
}

// ackOf builds an ACK to target for the final response res to the INVITE
// inv.
func ackOf(inv *sipmsg.Request, res *sipmsg.Response, target sipmsg.Uri, via sipmsg.Header) *sipmsg.Request {
	return inviteFollowUp(sipmsg.ACK, inv, res.To(), target, via)
}

// inviteFollowUp builds a body-less request of method (ACK or CANCEL) to
// target with the INVITE inv's From, Call-ID and CSeq number, the To to,
// and the single Via via.
func inviteFollowUp(method sipmsg.RequestMethod, inv *sipmsg.Request, to *sipmsg.ToHeader, target sipmsg.Uri, via sipmsg.Header) *sipmsg.Request {
	req := sipmsg.NewRequest(method, target)
	req.AppendHeader(via)
	req.AppendHeader(inv.From())
	req.AppendHeader(to)
	req.AppendHeader(inv.CallID())
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	req.SetBody(nil)

	return req
}

// InDialog builds a request of the wire inside the dialog that its INVITE
// inv and the other side's 2xx res set up (RFC 3261 section 12.2.1.1).
func (w *Wire) InDialog(method sipmsg.RequestMethod, inv *sipmsg.Request, res *sipmsg.Response, cseq uint32, body []byte) *sipmsg.Request {
	return w.DialogRequest(method, res.Contact().Address, inv.From(), res.To(), inv.CallID(), cseq, body)
}

// DialogRequest builds a request of the wire to target inside the dialog
// of from, to and callID, with SDP when body is set.
func (w *Wire) DialogRequest(method sipmsg.RequestMethod, target sipmsg.Uri, from *sipmsg.FromHeader, to *sipmsg.ToHeader,
	callID *sipmsg.CallIDHeader, cseq uint32, body []byte,
) *sipmsg.Request {
	req := sipmsg.NewRequest(method, target)
	req.AppendHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", w.addr, method, time.Now().UnixNano())))
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(w.contact())
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)

	return req
}
