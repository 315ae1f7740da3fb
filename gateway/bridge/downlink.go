package bridge

import (
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// trunkClockRate is the RTP clock of the trunk's G.711 and
// telephone-events, Hz.
const trunkClockRate = 8000

// downlink is the trunk-to-browser direction: G.711 RTP from the trunk's
// leg to the browser's codec (Opus at the 48 kHz RTP clock, RFC 7587, or
// G.711 re-chunked), and the trunk's RFC 4733 telephone-events to one
// digit per event, following the trunk when it changes its codec or
// telephone-event payload type mid-call. It belongs to the downlink
// goroutine; handle neither allocates nor locks (onDigit is called once
// per key press, not per packet).
type downlink struct {
	b       *Bridge
	in      rtp.Packet
	tc      *transcode.Downlink
	applied *TrunkMedia // the trunk media this downlink reads
	audioPT uint8
	tePT    uint8
	hdr     rtp.Header
	// maxPayload is the most the transcoder writes per frame.
	maxPayload int
	buf        [rtpstream.MaxPacketSize]byte
	out        [rtpstream.MaxPacketSize]byte
	c          *counters
	ev         transcode.Event
	evTS       uint32
	evSeen     bool
	onDigit    func(rune)
	epoch      time.Time
}

// newDownlink wires the downlink of b: tc transcodes the trunk's audio
// into the browser's codec browser; onDigit (may be nil) receives each
// digit. Its stream towards the browser gets a random SSRC and initial
// sequence number; the browser's leg may replace the SSRC and payload
// type with those it negotiated.
func newDownlink(b *Bridge, tc *transcode.Downlink, browser telephony.Codec, onDigit func(rune), epoch time.Time) *downlink {
	d := &downlink{b: b, tc: tc, c: newCounters(trunkClockRate), onDigit: onDigit, epoch: epoch}
	d.maxPayload = min(tc.MaxPayloadSize(), len(d.out)-rtpstream.HeaderSize)
	ssrc := randomUint32()
	d.hdr = rtp.Header{Version: rtpstream.Version, PayloadType: browser.PayloadType, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 9), Marker: true}
	d.follow(b.media.Load())

	return d
}

// run relays the trunk's packets until its leg is closed or fails.
func (d *downlink) run() error { return d.b.relay("downlink", d.b.trunkLeg, true, d.buf[:], d.handle) }

// handle processes one RTP packet read from the trunk. A change of the
// trunk's media published since the last packet takes effect first, so
// that this packet is already read with it.
func (d *downlink) handle(pkt []byte) {
	if m := d.b.media.Load(); m != d.applied {
		d.follow(m)
	}
	if err := d.in.Unmarshal(pkt); err != nil {
		d.c.dropped.Add(1)

		return
	}
	at := time.Since(d.epoch)
	if d.c.arrived(d.in.SSRC, d.in.SequenceNumber, d.in.Timestamp, at) {
		// Another source: another party after a transfer, or the trunk's
		// new stream after a re-INVITE (RFC 3550 section 8.2).
		d.tc.NewSource()
	}
	d.c.ssrc.Store(d.in.SSRC)
	switch {
	case d.in.PayloadType == d.audioPT:
		start := time.Now()
		if err := d.tc.PushAt(d.in.SequenceNumber, d.in.Timestamp, at, d.in.Payload); err != nil {
			d.c.dropped.Add(1)
		}
		st := d.tc.Stats()
		d.c.transcoded(st.Late, st.Reordered)
		payload := d.out[rtpstream.HeaderSize : rtpstream.HeaderSize+d.maxPayload]
		for {
			n, ts, ok := d.tc.Next(payload)
			if !ok {
				break
			}
			d.send(n, ts)
		}
		d.c.transcode.Add(int64(time.Since(start)))
	case d.tePT != 0 && d.in.PayloadType == d.tePT:
		d.event()
	default:
		d.c.dropped.Add(1)
	}
}

// send writes one frame of n payload bytes, already in d.out after the
// header, with its browser-clock timestamp ts and the next sequence number
// to the browser.
func (d *downlink) send(n int, ts uint32) {
	d.hdr.Timestamp = ts
	d.hdr.SequenceNumber++
	_, err := d.hdr.MarshalTo(d.out[:rtpstream.HeaderSize])
	if err == nil {
		_, err = d.b.browser.WriteRTP(d.out[:rtpstream.HeaderSize+n])
	}
	if err != nil {
		d.c.dropped.Add(1)
	} else {
		d.c.sent.Add(1)
	}
	d.hdr.Marker = false
}

// event reports a telephone-event's digit once, on the first packet with
// the end bit of each event (RFC 4733 section 2.5.1.4: the end packet is
// sent three times, all with the event's start timestamp).
func (d *downlink) event() {
	if err := d.ev.Unmarshal(d.in.Payload); err != nil {
		d.c.dropped.Add(1)

		return
	}
	if !d.ev.End || (d.evSeen && d.in.Timestamp == d.evTS) {
		return
	}
	d.evSeen, d.evTS = true, d.in.Timestamp
	if r, ok := transcode.DigitForEvent(d.ev.Code); ok && d.onDigit != nil {
		d.onDigit(r)
	}
}

// follow makes the downlink read what the trunk negotiated last: audio of
// m's payload type decoded as m's G.711 codec (the transcoder switches at
// this packet boundary, keeping the browser's timestamps and sequence
// numbers), and telephone-events of m's payload type. It neither
// allocates nor locks.
func (d *downlink) follow(m *TrunkMedia) {
	d.applied = m
	// FollowTrunk and New checked that m.Codec is G.711, the only error
	// cause.
	_ = d.tc.SetInput(m.Codec)
	d.audioPT = d.tc.Input().PayloadType
	d.tePT = m.EventPT
}
