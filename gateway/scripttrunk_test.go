package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// scriptTrunk is a SIP trunk on 127.0.0.1 that the test drives message by
// message over UDP, with sipgo's message parser and builders but no
// transaction layer: it does what the fake trunk (built on the project's
// own user agent) cannot, early media whose codec the 2xx changes and
// re-INVITEs with another codec. A reader goroutine answers BYE at once
// and queues every other message for the test.
type scriptTrunk struct {
	conn *net.UDPConn
	addr netip.AddrPort
	msgs chan scriptMsg
	wg   sync.WaitGroup
}

// scriptMsg is one SIP message the script trunk received, with its source.
type scriptMsg struct {
	m   sipmsg.Message
	src netip.AddrPort
}

// newScriptEnv starts a gateway whose trunk is a new script trunk.
func newScriptEnv(t *testing.T, tc testConfig) (*env, *scriptTrunk) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	st := &scriptTrunk{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), msgs: make(chan scriptMsg, 256)} //nolint:forcetypeassert // a UDP socket
	st.wg.Add(1)
	go st.read()
	t.Cleanup(func() { // after the gateway's shutdown
		_ = c.Close()
		st.wg.Wait()
	})

	return startGateway(t, tc, int(st.addr.Port())), st
}

// read answers BYEs with 200 OK and queues everything else, until the
// socket closes.
func (st *scriptTrunk) read() {
	defer st.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, src, err := st.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if req, ok := m.(*sipmsg.Request); ok && req.Method == sipmsg.BYE {
			_, _ = st.conn.WriteToUDPAddrPort([]byte(sipmsg.NewResponseFromRequest(req, 200, "OK", nil).String()), src)

			continue
		}
		select {
		case st.msgs <- scriptMsg{m: m, src: src}:
		default: // the test stopped reading; retransmissions are not its concern
		}
	}
}

// send writes m to dst.
func (st *scriptTrunk) send(t *testing.T, m sipmsg.Message, dst netip.AddrPort) {
	t.Helper()
	if _, err := st.conn.WriteToUDPAddrPort([]byte(m.String()), dst); err != nil {
		t.Fatalf("script trunk send: %v", err)
	}
}

// next waits for a message that match accepts, skipping others.
func (st *scriptTrunk) next(t *testing.T, what string, match func(sipmsg.Message) bool) scriptMsg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-st.msgs:
			if match(m.m) {
				return m
			}
		case <-deadline:
			t.Fatalf("script trunk: no %s", what)

			return scriptMsg{}
		}
	}
}

// scriptCall is the call of the gateway's INVITE on the script trunk.
type scriptCall struct {
	st    *scriptTrunk
	inv   *sipmsg.Request // the gateway's INVITE
	gw    netip.AddrPort  // where the gateway's INVITE came from
	offer sip.MediaDescription
	toTag string
	ok    *sipmsg.Response // our 2xx, once sent
	cseq  uint32           // of our last request in the dialog
	sdpV  uint64           // o= version of our last SDP
	media *scriptMedia
}

// acceptInvite waits for the gateway's INVITE and opens the call's RTP
// socket; nothing is answered yet.
func (st *scriptTrunk) acceptInvite(t *testing.T) *scriptCall {
	t.Helper()
	m := st.next(t, "INVITE", func(m sipmsg.Message) bool {
		req, ok := m.(*sipmsg.Request)

		return ok && req.Method == sipmsg.INVITE
	})
	inv := m.m.(*sipmsg.Request) //nolint:forcetypeassert // matched above
	offer, err := sip.ParseSDP(inv.Body())
	if err != nil {
		t.Fatalf("the gateway's offer: %v", err)
	}
	c := &scriptCall{st: st, inv: inv, gw: m.src, offer: offer, toTag: "script" + strconv.Itoa(int(time.Now().UnixNano()%1e6))}
	c.media = newScriptMedia(t, offer.Addr)

	return c
}

// answerSDP is our SDP answer to the gateway's offer with codec and the
// offer's telephone-event.
func (c *scriptCall) answerSDP(t *testing.T, codec telephony.Codec) []byte {
	t.Helper()
	c.sdpV++
	body, err := sip.BuildAnswer(c.offer, sip.SDPParams{
		Addr: c.media.addr, SessionID: 4242, SessionVersion: c.sdpV, Codecs: []telephony.Codec{codec},
		TelephoneEventPT: 101, PtimeMs: 20, Direction: sip.SendRecv, UserAgent: "script-trunk",
	})
	if err != nil {
		t.Fatalf("answer: %v", err)
	}

	return body
}

// respond answers the gateway's INVITE with code (183 or 200) and an SDP
// answer selecting codec, then sends the tone in codec. A 200 waits for
// the gateway's ACK.
func (c *scriptCall) respond(t *testing.T, code int, reason string, codec telephony.Codec) {
	t.Helper()
	res := sipmsg.NewResponseFromRequest(c.inv, code, reason, c.answerSDP(t, codec))
	res.To().Params.Add("tag", c.toTag)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(c.contact())
	c.st.send(t, res, c.gw)
	c.media.set(codec, c.offer.TelephoneEventPT, false)
	if code < 200 {
		return
	}
	c.ok = res
	c.st.next(t, "ACK", func(m sipmsg.Message) bool {
		req, ok := m.(*sipmsg.Request)

		return ok && req.Method == sipmsg.ACK && req.CSeq().SeqNo == c.inv.CSeq().SeqNo
	})
}

// contact is the script trunk's Contact.
func (c *scriptCall) contact() *sipmsg.ContactHeader {
	return &sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: int(c.st.addr.Port())}}
}

// reinvite sends a re-INVITE inside the established dialog offering codec
// alone with telephone-event tePT, acknowledges the gateway's 2xx and
// then sends the tone in codec, from a new RTP stream (new SSRC, sequence
// number and timestamp) when newStream is set. It returns the gateway's
// answer.
func (c *scriptCall) reinvite(t *testing.T, codec telephony.Codec, tePT uint8, newStream bool) sip.MediaDescription {
	t.Helper()
	c.sdpV++
	offer, err := sip.BuildOffer(sip.SDPParams{
		Addr: c.media.addr, SessionID: 4242, SessionVersion: c.sdpV, Codecs: []telephony.Codec{codec},
		TelephoneEventPT: tePT, PtimeMs: 20, Direction: sip.SendRecv, UserAgent: "script-trunk",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.cseq++
	target := c.inv.Contact().Address
	req := c.inDialog(sipmsg.INVITE, target, c.cseq, offer)
	dst, err := netip.ParseAddrPort(target.HostPort())
	if err != nil {
		t.Fatalf("the gateway's Contact %s: %v", target.String(), err)
	}
	c.st.send(t, req, dst)
	m := c.st.next(t, "2xx to the re-INVITE", func(m sipmsg.Message) bool {
		res, ok := m.(*sipmsg.Response)

		return ok && res.CSeq().MethodName == sipmsg.INVITE && res.CSeq().SeqNo == c.cseq && res.StatusCode >= 200
	})
	res := m.m.(*sipmsg.Response) //nolint:forcetypeassert // matched above
	if res.StatusCode != 200 {
		t.Fatalf("the gateway answered the re-INVITE with %d %s", res.StatusCode, res.Reason)
	}
	ack := c.inDialog(sipmsg.ACK, res.Contact().Address, c.cseq, nil)
	c.st.send(t, ack, dst)
	answer, err := sip.ParseSDP(res.Body())
	if err != nil {
		t.Fatalf("the gateway's answer: %v", err)
	}
	c.media.set(codec, tePT, newStream)

	return answer
}

// inDialog builds a request of ours inside the dialog (RFC 3261 section
// 12.2.1.1).
func (c *scriptCall) inDialog(method sipmsg.RequestMethod, target sipmsg.Uri, cseq uint32, body []byte) *sipmsg.Request {
	req := sipmsg.NewRequest(method, target)
	req.AppendHeader(sipmsg.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d", c.st.addr, method, time.Now().UnixNano())))
	from := c.ok.To().AsFrom()
	req.AppendHeader(&from)
	to := c.inv.From().AsTo()
	req.AppendHeader(&to)
	req.AppendHeader(sipmsg.HeaderClone(c.inv.CallID()))
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(c.contact())
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)

	return req
}

// scriptMedia is the script trunk's RTP: it sends a 1 kHz tone every 20 ms
// in the codec of the moment, telephone-events on request, and records
// every packet the gateway sends.
type scriptMedia struct {
	conn *net.UDPConn
	addr netip.AddrPort
	dst  netip.AddrPort
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	codec    telephony.Codec
	tePT     uint8
	hdr      rtp.Header
	started  bool
	digits   []uint8
	received []rtp.Packet
	changed  chan struct{} // closed and replaced at each packet received
}

// newScriptMedia opens an RTP socket sending to dst, the gateway's media
// address; it sends nothing until set.
func newScriptMedia(t *testing.T, dst netip.AddrPort) *scriptMedia {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := &scriptMedia{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), dst: dst, stop: make(chan struct{}), changed: make(chan struct{})} //nolint:forcetypeassert // a UDP socket
	m.hdr = rtp.Header{Version: 2, SSRC: 0x5c0de, SequenceNumber: 3000, Timestamp: 77000}
	m.wg.Add(2)
	go m.send()
	go m.receive()
	t.Cleanup(m.close)

	return m
}

// set makes the sender use codec and telephone-event payload type tePT
// from its next packet on; newStream starts a new SSRC, sequence number
// and timestamp, as trunks often do with a new codec.
func (m *scriptMedia) set(codec telephony.Codec, tePT uint8, newStream bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codec, m.tePT, m.started = codec, tePT, true
	if newStream {
		m.hdr.SSRC++
		m.hdr.SequenceNumber += 20000
		m.hdr.Timestamp += 1 << 30
	}
}

// sendDigit queues one RFC 4733 event (code 0-15) after the current frame.
func (m *scriptMedia) sendDigit(code uint8) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.digits = append(m.digits, code)
}

// send is the sender goroutine.
func (m *scriptMedia) send() {
	defer m.wg.Done()
	tone := testaudio.NewTone(1000, 8000, testcodec.ToneAmp)
	var pcm [160]int16
	var buf [200]byte
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		tone.Fill(pcm[:])
		m.mu.Lock()
		if !m.started {
			m.mu.Unlock()

			continue
		}
		h := m.hdr
		h.PayloadType = m.codec.PayloadType
		h.Timestamp += 160
		h.SequenceNumber++
		n, _ := h.MarshalTo(buf[:])
		if m.codec.Name == telephony.PCMA.Name {
			transcode.EncodePCMA(buf[n:], pcm[:])
		} else {
			transcode.EncodePCMU(buf[n:], pcm[:])
		}
		packets := [][]byte{append([]byte(nil), buf[:n+160]...)}
		if len(m.digits) > 0 {
			// One event of 3 updates and 3 end packets at this timestamp.
			code := m.digits[0]
			m.digits = m.digits[1:]
			for j := range 6 {
				h.SequenceNumber++
				ev := rtp.Header{Version: 2, PayloadType: m.tePT, SSRC: h.SSRC, SequenceNumber: h.SequenceNumber, Timestamp: h.Timestamp, Marker: j == 0}
				k, _ := ev.MarshalTo(buf[:])
				_, _ = transcode.Event{Code: code, End: j >= 3, Duration: uint16(160 * min(j+1, 3))}.MarshalTo(buf[k:])
				packets = append(packets, append([]byte(nil), buf[:k+4]...))
			}
		}
		m.hdr = h
		m.mu.Unlock()
		for _, p := range packets {
			_, _ = m.conn.WriteToUDPAddrPort(p, m.dst)
		}
	}
}

// receive is the receiver goroutine: it records every RTP packet from the
// gateway's media address.
func (m *scriptMedia) receive() {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, src, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if src != m.dst || p.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
			continue
		}
		m.mu.Lock()
		m.received = append(m.received, p)
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
	}
}

// packets returns a copy of what the gateway sent so far.
func (m *scriptMedia) packets() []rtp.Packet {
	m.mu.Lock()
	defer m.mu.Unlock()

	return append([]rtp.Packet(nil), m.received...)
}

// waitPackets waits until accept holds for the packets received so far,
// checking again at each packet that arrives.
func (m *scriptMedia) waitPackets(t *testing.T, what string, accept func([]rtp.Packet) bool) []rtp.Packet {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		m.mu.Lock()
		p, changed := append([]rtp.Packet(nil), m.received...), m.changed
		m.mu.Unlock()
		if accept(p) {
			return p
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("the trunk did not receive %s (%d packets)", what, len(p))
		}
	}
}

func (m *scriptMedia) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	_ = m.conn.Close()
	m.wg.Wait()
}
