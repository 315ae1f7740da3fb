package faketrunk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// DefaultToneHz is the frequency of the tone a trunk sends unless told
// otherwise, in Hz.
const DefaultToneHz = 1000

// SSRC is the synchronization source of the first RTP stream of every
// Media (RFC 3550 section 5.1); Use with a new stream counts up from it.
const SSRC = 0x7e570001

// frameSamples is one 20 ms packet of 8 kHz G.711, in samples and bytes.
const frameSamples = 160

// Media is the trunk's side of one call's RTP (RFC 3550): one UDP socket on
// 127.0.0.1, bound when the call is made so that its port can go into the
// SDP, that sends a G.711 tone every 20 ms to the other side once Start
// names it, sends RFC 4733 digits on request in place of the audio, and
// records every packet it receives: the packets themselves, their audio
// decoded to 8 kHz and their digits.
type Media struct {
	conn  *net.UDPConn
	local netip.AddrPort
	// rtcp receives the RTCP the other side sends (RFC 3550 section 6),
	// on the port the trunk's SDP names with a=rtcp (RFC 3605).
	rtcp  *net.UDPConn
	tone  float64
	heard *ear.Record
	dtmf  *testcodec.DTMFSender
	muted atomic.Bool

	mu       sync.Mutex
	remote   netip.AddrPort
	codec    telephony.Codec
	eventPT  uint8
	hdr      rtp.Header // of the last packet sent
	started  bool
	closed   bool // Close began: no sender starts any more
	received []rtp.Packet
	rtcpIn   [][]byte           // RTCP compound packets received
	rx       rtpstream.Receiver // what arrived, for receiver reports
	epoch    time.Time          // origin of rx's arrival clock
	changed  chan struct{}      // closed and replaced at each packet received

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewMedia binds the RTP socket on 127.0.0.1, port 0, and starts
// recording what arrives; it sends nothing until Start. toneHz is the
// frequency of the tone it will send. The socket is closed by Close, and
// by t.Cleanup at the latest.
func NewMedia(tb testing.TB, toneHz float64) *Media {
	tb.Helper()
	m, err := newMedia(toneHz)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)

	return m
}

func newMedia(toneHz float64) (*Media, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	m := &Media{
		conn: c, rtcp: rc, local: c.LocalAddr().(*net.UDPAddr).AddrPort(), tone: toneHz, //nolint:forcetypeassert // a UDP socket
		heard: ear.New(8000), dtmf: testcodec.NewDTMFSender(8000), changed: make(chan struct{}), stop: make(chan struct{}), epoch: time.Now(),
		hdr: rtp.Header{Version: rtpstream.Version, SSRC: SSRC, SequenceNumber: 3000, Timestamp: 77000},
	}
	m.wg.Add(2)
	go m.receive()
	go m.receiveRTCP()

	return m, nil
}

// RTCPAddr is where the trunk receives RTCP.
func (m *Media) RTCPAddr() netip.AddrPort { return m.rtcp.LocalAddr().(*net.UDPAddr).AddrPort() } //nolint:forcetypeassert // a UDP socket

// RTCP returns copies of the RTCP compound packets received so far.
func (m *Media) RTCP() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()

	return append([][]byte(nil), m.rtcpIn...)
}

// receiveRTCP records every RTCP packet until the socket is closed, and
// answers each sender report with a receiver report about the stream it
// describes (RFC 3550 section 6.4.2): the loss, highest sequence number
// and jitter of what the trunk received, and the LSR and DLSR that let the
// sender measure the round trip.
func (m *Media) receiveRTCP() {
	defer m.wg.Done()
	buf := make([]byte, rtpstream.MaxPacketSize)
	for {
		n, from, err := m.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		m.mu.Lock()
		m.rtcpIn = append(m.rtcpIn, append([]byte(nil), buf[:n]...))
		m.mu.Unlock()
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				m.answerSR(sr, at, from)
			}
		}
	}
}

// answerSR sends the receiver report that answers sr, received at at from
// from.
func (m *Media) answerSR(sr *rtcp.SenderReport, at time.Time, from netip.AddrPort) {
	m.mu.Lock()
	st := m.rx.Stats()
	fraction := m.rx.Interval()
	m.mu.Unlock()
	delay := time.Since(at)
	rr := &rtcp.ReceiverReport{SSRC: SSRC, Reports: []rtcp.ReceptionReport{{
		SSRC:               sr.SSRC,
		FractionLost:       fraction,
		TotalLost:          uint32(max(st.Lost, 0)) & 0xffffff, //nolint:gosec // 24 bits
		LastSequenceNumber: st.ExtendedHighest,
		Jitter:             st.Jitter,
		LastSenderReport:   uint32(sr.NTPTime >> 16),                //nolint:gosec // the middle 32 bits
		Delay:              uint32(delay * (1 << 16) / time.Second), //nolint:gosec // a short delay
	}}}
	b, err := rtcp.Marshal([]rtcp.Packet{rr})
	if err != nil {
		return
	}
	_, _ = m.rtcp.WriteToUDPAddrPort(b, from)
}

// Addr is the socket's address: where the trunk receives RTP.
func (m *Media) Addr() netip.AddrPort { return m.local }

// Heard is the audio (8 kHz) and the digits received so far.
func (m *Media) Heard() *ear.Record { return m.heard }

// Start begins sending to remote in codec, with telephone-events on
// payload type eventPT (0: none negotiated). Later calls change the codec
// and payload type (Use) and the destination.
func (m *Media) Start(remote netip.AddrPort, codec telephony.Codec, eventPT uint8) {
	m.mu.Lock()
	m.remote, m.codec, m.eventPT = remote, codec, eventPT
	start := !m.started && !m.closed
	m.started = true
	if start {
		// Under mu, so that Close, which marks closed under mu before it
		// waits, never waits while a sender is being added.
		m.wg.Add(1)
	}
	m.mu.Unlock()
	if start {
		go m.send()
	}
}

// Use makes the sender use codec and telephone-event payload type eventPT
// from its next packet on; newStream starts a new SSRC, sequence number
// and timestamp, as trunks often do with a new codec.
func (m *Media) Use(codec telephony.Codec, eventPT uint8, newStream bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codec, m.eventPT = codec, eventPT
	if newStream {
		m.hdr.SSRC++
		m.hdr.SequenceNumber += 20000
		m.hdr.Timestamp += 1 << 30
	}
}

// SendDigits queues RFC 4733 key presses, each sent in place of the audio
// for 160 ms.
func (m *Media) SendDigits(digits string) { m.dtmf.Enqueue(digits) }

// SetMuted stops (true) or resumes the audio: a muted trunk sends nothing,
// as a far end whose media went away.
func (m *Media) SetMuted(muted bool) { m.muted.Store(muted) }

// Close stops sending and receiving and releases the socket; the record
// ends. It is idempotent.
func (m *Media) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.closeOnce.Do(func() {
		close(m.stop)
		_ = m.conn.Close()
		_ = m.rtcp.Close()
	})
	m.wg.Wait()
}

// send plays the tone every 20 ms until Close.
func (m *Media) send() {
	defer m.wg.Done()
	tone := testaudio.NewTone(m.tone, 8000, testcodec.ToneAmp)
	var pcm [frameSamples]int16
	var payload [frameSamples]byte
	out := make([]byte, rtpstream.MaxPacketSize)
	testcodec.EveryFrame(m.stop, func() bool {
		tone.Fill(pcm[:])
		m.mu.Lock()
		// The tick's audio would have the next sequence number and a
		// timestamp 20 ms on; an event's packets carry the event's start
		// timestamp instead, and time goes on either way.
		p := rtp.Packet{Header: m.hdr}
		p.SequenceNumber++
		p.Timestamp += frameSamples
		now := p.Timestamp
		codec, remote := m.codec, m.remote
		if m.eventPT == 0 || !m.dtmf.Next(&p, m.eventPT, now) {
			if m.muted.Load() {
				m.hdr.Timestamp = now
				m.mu.Unlock()

				return true
			}
			if codec.IsPCMA() {
				transcode.EncodePCMA(payload[:], pcm[:])
			} else {
				transcode.EncodePCMU(payload[:], pcm[:])
			}
			p.PayloadType, p.Marker, p.Payload = codec.PayloadType, false, payload[:]
		}
		m.hdr.SSRC, m.hdr.SequenceNumber, m.hdr.Timestamp = p.SSRC, p.SequenceNumber, now
		n, err := p.MarshalTo(out)
		m.mu.Unlock()
		if err == nil {
			_, err = m.conn.WriteToUDPAddrPort(out[:n], remote)
		}

		return !errors.Is(err, net.ErrClosed)
	})
}

// receive records every RTP packet until the socket is closed.
func (m *Media) receive() {
	defer m.wg.Done()
	defer m.heard.End()
	buf := make([]byte, rtpstream.MaxPacketSize)
	var pcm [rtpstream.MaxPacketSize]int16
	for {
		n, err := m.conn.Read(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if p.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
			continue
		}
		switch {
		case p.PayloadType == telephony.PayloadTypePCMU:
			m.heard.Hear(pcm[:transcode.DecodePCMU(pcm[:], p.Payload)])
		case p.PayloadType == telephony.PayloadTypePCMA:
			m.heard.Hear(pcm[:transcode.DecodePCMA(pcm[:], p.Payload)])
		case len(p.Payload) == transcode.EventPayloadSize:
			m.heard.HearEvent(p.Timestamp, p.Payload)
		}
		m.mu.Lock()
		m.rx.Update(p.SequenceNumber, p.Timestamp, time.Since(m.epoch))
		m.received = append(m.received, p)
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
	}
}

// Packets returns a copy of the RTP packets received so far, in order of
// arrival.
func (m *Media) Packets() []rtp.Packet {
	m.mu.Lock()
	defer m.mu.Unlock()

	return append([]rtp.Packet(nil), m.received...)
}

// WaitPackets waits until accept holds for the packets received so far,
// checking again at each packet that arrives, and returns them; it fails
// tb after ear.WaitTimeout, naming what it waited for.
func (m *Media) WaitPackets(tb testing.TB, what string, accept func([]rtp.Packet) bool) []rtp.Packet {
	tb.Helper()

	return waitChange(tb, &m.mu, func() <-chan struct{} { return m.changed }, func() ([]rtp.Packet, bool) {
		p := append([]rtp.Packet(nil), m.received...)

		return p, accept(p)
	}, func() string { return fmt.Sprintf("the trunk did not receive %s (%d packets)", what, len(m.Packets())) })
}
