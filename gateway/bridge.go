package gateway

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// rtpHeaderSize is the size of the RTP headers the bridge writes: the fixed
// header of RFC 3550 section 5.1, without CSRC list or extension.
const rtpHeaderSize = 12

// mtu is the size of every packet buffer of the bridge: one Ethernet MTU.
const mtu = 1500

// legCounters are the counters of one media direction of a call. The media
// goroutine of that direction updates them with atomics (never a lock); the
// session reads them for the media timeout and flushes them to Prometheus
// and to the call's log line when it ends.
type legCounters struct {
	// received counts RTP packets read from the source leg.
	received atomic.Uint64
	// sent counts RTP packets written to the destination leg.
	sent atomic.Uint64
	// lost counts packets missing from the source's sequence numbers.
	lost atomic.Uint64
	// dropped counts packets that were not understood (malformed, unknown
	// payload type) or could not be written.
	dropped atomic.Uint64
	// transcodeNanos is the time spent in the transcoder, in nanoseconds.
	transcodeNanos atomic.Int64
	// lastPacket is the arrival time of the last packet, in nanoseconds
	// since the session's monotonic start (0: none yet).
	lastPacket atomic.Int64
}

// seqTracker counts sequence gaps of one RTP stream (RFC 3550 appendix
// A.1, simplified: a jump forward by up to maxDropout counts the skipped
// numbers as lost; anything else restarts the count).
type seqTracker struct {
	started bool
	last    uint16
}

// maxDropout is the largest forward jump of sequence numbers counted as
// loss rather than as a restart of the stream (RFC 3550 appendix A.1).
const maxDropout = 3000

// next records seq and returns how many packets are missing before it.
func (t *seqTracker) next(seq uint16) uint64 {
	if !t.started {
		t.started = true
		t.last = seq

		return 0
	}
	d := seq - t.last
	if d == 0 || d > maxDropout {
		if d > maxDropout && d < 1<<15 {
			t.last = seq
		}

		return 0
	}
	t.last = seq

	return uint64(d - 1)
}

// rawWriter sends one marshalled RTP packet; the trunk leg's *sip.RTPConn.
type rawWriter interface {
	WriteRTP(b []byte) (int, error)
}

// packetWriter sends one RTP packet; the browser leg's
// *webrtc.TrackLocalStaticRTP.
type packetWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// uplink is the browser-to-trunk direction of a bridged call: RTP from the
// browser's track (Opus, or G.711 passed through, and RFC 4733
// telephone-events) to RTP towards the trunk (its G.711 codec and its
// telephone-event payload type, 8 kHz clock), following the trunk when it
// changes them mid-call. It belongs to the uplink goroutine; handle
// neither allocates nor locks.
type uplink struct {
	in      rtp.Packet
	tc      *transcode.Uplink
	dtmf    []*transcode.DTMFMapper // one per browser telephone-event format; none: the browser has no telephone-event
	gen     *dtmfSender
	media   *atomic.Pointer[trunkMedia] // the trunk's negotiated media, published by the session
	applied *trunkMedia                 // the one this uplink sends
	audioPT uint8
	hdr     rtp.Header
	evHdr   rtp.Header
	ev      transcode.Event
	buf     [mtu]byte
	out     [mtu]byte
	w       rawWriter
	c       *legCounters
	seq     seqTracker
	muted   *atomic.Bool
	silence byte
	marker  bool
	epoch   time.Time
}

// newUplink wires an uplink: tc transcodes the browser's audio payload type
// audioPT into the trunk's G.711 codec; dtmf (optional, one mapper per
// telephone-event format the browser negotiated) maps the browser's
// telephone-events to the trunk's payload type; gen sends the digits asked
// for over signaling; media holds the trunk's negotiated codec and
// telephone-event payload type (not nil), read again before every packet;
// ssrc is this call's random SSRC towards the trunk (RFC 3550 section
// 8.1); while muted is set the trunk receives G.711 silence instead of the
// browser's audio.
func newUplink(tc *transcode.Uplink, audioPT uint8, dtmf []*transcode.DTMFMapper, gen *dtmfSender,
	media *atomic.Pointer[trunkMedia], ssrc uint32, w rawWriter, c *legCounters, muted *atomic.Bool, epoch time.Time,
) *uplink {
	u := &uplink{tc: tc, dtmf: dtmf, gen: gen, media: media, audioPT: audioPT, w: w, c: c, muted: muted, marker: true, epoch: epoch}
	u.hdr = rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 7)}
	u.evHdr = rtp.Header{Version: 2, SSRC: ssrc}
	u.follow(media.Load())

	return u
}

// handle processes one RTP packet read from the browser's track: audio is
// transcoded and sent as frames of the trunk's ptime, telephone-events are
// mapped to the trunk's payload type, anything else is dropped. Send
// errors of the trunk leg (no destination while the trunk holds the call)
// are counted, not returned. A change of the trunk's codec published since
// the last packet takes effect first.
func (u *uplink) handle(pkt []byte) {
	if m := u.media.Load(); m != u.applied {
		u.follow(m)
	}
	if err := u.in.Unmarshal(pkt); err != nil {
		u.c.dropped.Add(1)

		return
	}
	u.c.received.Add(1)
	u.c.lastPacket.Store(int64(time.Since(u.epoch)))
	if lost := u.seq.next(u.in.SequenceNumber); lost > 0 {
		u.c.lost.Add(lost)
	}
	switch u.in.PayloadType {
	case u.audioPT:
		start := time.Now()
		if err := u.tc.Push(u.in.SequenceNumber, u.in.Timestamp, u.in.Payload); err != nil {
			u.c.dropped.Add(1)
		}
		for {
			n, ts, ok := u.tc.Next(u.out[rtpHeaderSize:])
			if !ok {
				break
			}
			u.frame(n, ts)
		}
		u.c.transcodeNanos.Add(int64(time.Since(start)))
	default:
		u.event()
	}
}

// event maps a telephone-event packet of the browser (RFC 4733) onto the
// trunk's stream with the mapper of its payload type; any other payload
// type, and any event while the trunk has no telephone-event, is dropped
// and counted.
func (u *uplink) event() {
	for _, m := range u.dtmf {
		if u.in.PayloadType != m.InPayloadType() {
			continue
		}
		if u.evHdr.PayloadType == 0 {
			break
		}
		if u.muted.Load() {
			return
		}
		n, err := m.Map(&u.in, &u.evHdr, u.out[rtpHeaderSize:])
		if err != nil {
			u.c.dropped.Add(1)

			return
		}
		u.send(&u.evHdr, n)

		return
	}
	u.c.dropped.Add(1)
}

// frame sends one G.711 frame of n bytes, already in u.out after the
// header, with its 8 kHz timestamp ts: as audio, or replaced by the
// telephone-event packet the DTMF sender has due, or as silence while the
// browser holds the call (the stream goes on so that the trunk's RTP
// timeout does not end the call).
func (u *uplink) frame(n int, ts uint32) {
	if u.muted.Load() {
		payload := u.out[rtpHeaderSize : rtpHeaderSize+n]
		for i := range payload {
			payload[i] = u.silence
		}
	} else if u.gen != nil && u.evHdr.PayloadType != 0 {
		if start, marker, ok := u.gen.step(ts, uint16(n), &u.ev); ok {
			m, err := u.ev.MarshalTo(u.out[rtpHeaderSize:])
			if err != nil {
				u.c.dropped.Add(1)

				return
			}
			u.evHdr.Timestamp = start
			u.evHdr.Marker = marker
			u.send(&u.evHdr, m)

			return
		}
	}
	u.hdr.Timestamp = ts
	u.hdr.Marker = u.marker
	u.marker = false
	u.send(&u.hdr, n)
}

// send marshals h in front of the n payload bytes at u.out and writes the
// packet to the trunk with the next sequence number of the stream.
func (u *uplink) send(h *rtp.Header, n int) {
	u.hdr.SequenceNumber++
	h.SequenceNumber = u.hdr.SequenceNumber
	if _, err := h.MarshalTo(u.out[:rtpHeaderSize]); err != nil {
		u.c.dropped.Add(1)

		return
	}
	if _, err := u.w.WriteRTP(u.out[:rtpHeaderSize+n]); err != nil {
		u.c.dropped.Add(1)

		return
	}
	u.c.sent.Add(1)
}

// downlink is the trunk-to-browser direction of a bridged call: G.711 RTP
// from the trunk to the browser's codec (Opus at the 48 kHz RTP clock, RFC
// 7587, or G.711 re-chunked), and the trunk's RFC 4733 telephone-events to
// one DTMF digit per event for the signaling connection, following the
// trunk when it changes its codec or telephone-event payload type
// mid-call. It belongs to the downlink goroutine; handle neither allocates
// nor locks (onDigit is called once per key press, not per packet).
type downlink struct {
	in      rtp.Packet
	tc      *transcode.Downlink
	media   *atomic.Pointer[trunkMedia] // the trunk's negotiated media, published by the session
	applied *trunkMedia                 // the one this downlink reads
	audioPT uint8
	tePT    uint8
	out     rtp.Packet
	payload []byte
	buf     [mtu]byte
	w       packetWriter
	c       *legCounters
	seq     seqTracker
	ev      transcode.Event
	evTS    uint32
	evSeen  bool
	onDigit func(rune)
	epoch   time.Time
}

// newDownlink wires a downlink: tc transcodes the trunk's audio into the
// browser's codec browserPT; media holds the trunk's negotiated codec and
// telephone-event payload type (not nil), read again before every packet;
// onDigit receives each DTMF digit.
func newDownlink(tc *transcode.Downlink, media *atomic.Pointer[trunkMedia], browserPT uint8, ssrc uint32, w packetWriter,
	c *legCounters, onDigit func(rune), epoch time.Time,
) *downlink {
	d := &downlink{tc: tc, media: media, w: w, c: c, onDigit: onDigit, epoch: epoch}
	d.payload = make([]byte, tc.MaxPayloadSize())
	d.out.Header = rtp.Header{Version: 2, PayloadType: browserPT, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 9), Marker: true}
	d.follow(media.Load())

	return d
}

// handle processes one RTP packet read from the trunk. A change of the
// trunk's codec published since the last packet takes effect first, so
// that this packet is already read with it.
func (d *downlink) handle(pkt []byte) {
	if m := d.media.Load(); m != d.applied {
		d.follow(m)
	}
	if err := d.in.Unmarshal(pkt); err != nil {
		d.c.dropped.Add(1)

		return
	}
	d.c.received.Add(1)
	d.c.lastPacket.Store(int64(time.Since(d.epoch)))
	if lost := d.seq.next(d.in.SequenceNumber); lost > 0 {
		d.c.lost.Add(lost)
	}
	switch {
	case d.in.PayloadType == d.audioPT:
		start := time.Now()
		if err := d.tc.Push(d.in.SequenceNumber, d.in.Timestamp, d.in.Payload); err != nil {
			d.c.dropped.Add(1)
		}
		for {
			n, ts, ok := d.tc.Next(d.payload)
			if !ok {
				break
			}
			d.out.Timestamp = ts
			d.out.SequenceNumber++
			d.out.Payload = d.payload[:n]
			if err := d.w.WriteRTP(&d.out); err != nil {
				d.c.dropped.Add(1)
			} else {
				d.c.sent.Add(1)
			}
			d.out.Marker = false
		}
		d.c.transcodeNanos.Add(int64(time.Since(start)))
	case d.tePT != 0 && d.in.PayloadType == d.tePT:
		d.event()
	default:
		d.c.dropped.Add(1)
	}
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
