package bridge

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// uplink is the browser-to-trunk direction: RTP from the browser's leg
// (Opus, or G.711 passed through, and RFC 4733 telephone-events) to RTP
// towards the trunk (its G.711 codec and its telephone-event payload type,
// 8 kHz clock, one SSRC of ours), following the trunk when it changes
// them mid-call. It belongs to the uplink goroutine; handle neither
// allocates nor locks.
type uplink struct {
	b       *Bridge
	in      rtp.Packet
	tc      *transcode.Uplink
	dtmf    []*transcode.DTMFMapper // one per browser telephone-event format
	applied *TrunkMedia             // the trunk media this uplink sends
	audioPT uint8
	hdr     rtp.Header
	evHdr   rtp.Header
	ev      transcode.Event
	buf     [rtpstream.MaxPacketSize]byte
	out     [rtpstream.MaxPacketSize]byte
	c       *counters
	silence byte
	marker  bool
	epoch   time.Time
	// digitsOut, when set, takes the browser's digits out of the trunk's
	// stream (Config.OnBrowserDigit).
	digitsOut *digitTap
}

// newUplink wires the uplink of b: tc transcodes the browser's audio codec
// browser into the trunk's; dtmf maps the browser's telephone-events to
// the trunk's payload type. Its stream towards the trunk gets a random
// SSRC and initial sequence number (RFC 3550 sections 5.1 and 8.1).
func newUplink(b *Bridge, tc *transcode.Uplink, browser telephony.Codec, dtmf []*transcode.DTMFMapper, epoch time.Time) *uplink {
	u := &uplink{b: b, tc: tc, dtmf: dtmf, audioPT: browser.PayloadType, c: newCounters(browser.ClockRate), marker: true, epoch: epoch}
	ssrc := randomUint32()
	u.hdr = rtp.Header{Version: rtpstream.Version, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 7)}
	u.evHdr = rtp.Header{Version: rtpstream.Version, SSRC: ssrc}
	u.follow(b.media.Load())

	return u
}

// run relays the browser's packets until its leg is closed or fails.
func (u *uplink) run() error { return u.b.relay("uplink", u.browserLeg, false, u.buf[:], u.handle) }

// browserLeg returns the browser's leg, which never changes.
func (u *uplink) browserLeg() Leg { return u.b.browser }

// handle processes one RTP packet read from the browser: audio is
// transcoded and sent as frames of the trunk's ptime, telephone-events
// are mapped to the trunk's payload type, anything else is dropped. Send
// errors of the trunk leg (no destination while the trunk holds the call)
// are counted, not returned. A change of the trunk's media published
// since the last packet takes effect first.
func (u *uplink) handle(pkt []byte) {
	if m := u.b.media.Load(); m != u.applied {
		u.follow(m)
	}
	if err := u.in.Unmarshal(pkt); err != nil {
		u.c.dropped.Add(1)

		return
	}
	at := time.Since(u.epoch)
	u.c.arrived(u.in.SSRC, u.in.SequenceNumber, u.in.Timestamp, at)
	switch u.in.PayloadType {
	case u.audioPT:
		start := time.Now()
		if err := u.tc.PushAt(u.in.SequenceNumber, u.in.Timestamp, at, u.in.Payload); err != nil {
			u.c.dropped.Add(1)
		}
		st := u.tc.Stats()
		u.c.transcoded(st.Late, st.Reordered)
		for {
			n, ts, ok := u.tc.Next(u.out[rtpstream.HeaderSize:])
			if !ok {
				break
			}
			u.frame(n, ts)
		}
		u.c.transcode.Add(int64(time.Since(start)))
	default:
		u.event()
	}
}

// event maps a telephone-event packet of the browser (RFC 4733) onto the
// trunk's stream with the mapper of its payload type (an event that came
// as end packets only is regenerated in place of audio frames instead,
// see transcode.DTMFMapper.Regenerate); any other payload
// type, and any event while the trunk has no telephone-event, is dropped
// and counted. Events of a muted call are dropped silently.
func (u *uplink) event() {
	if u.digitsOut != nil {
		if !u.b.muted.Load() && !u.digitsOut.handle(&u.in) {
			u.c.dropped.Add(1)
		}

		return
	}
	for _, m := range u.dtmf {
		if u.in.PayloadType != m.InPayloadType() {
			continue
		}
		if u.evHdr.PayloadType == 0 {
			break
		}
		if u.b.muted.Load() {
			return
		}
		n, err := m.Map(&u.in, &u.evHdr, u.out[rtpstream.HeaderSize:])
		if err != nil {
			u.c.dropped.Add(1)

			return
		}
		if n == 0 {
			// Handed to the generator, which sends it in place of
			// the next audio frames.
			return
		}
		u.send(&u.evHdr, n)

		return
	}
	u.c.dropped.Add(1)
}

// frame sends one G.711 frame of n bytes, already in u.out after the
// header, with its 8 kHz timestamp ts: as audio, or replaced by the
// telephone-event packet the DTMF generator has due, or as silence while
// muted (the stream goes on so that the trunk's RTP timeout does not end
// the call).
func (u *uplink) frame(n int, ts uint32) {
	if u.b.muted.Load() {
		payload := u.out[rtpstream.HeaderSize : rtpstream.HeaderSize+n]
		for i := range payload {
			payload[i] = u.silence
		}
	} else if u.evHdr.PayloadType != 0 {
		if start, marker, ok := u.b.dtmf.Step(ts, uint16(n), &u.ev); ok {
			m, err := u.ev.MarshalTo(u.out[rtpstream.HeaderSize:])
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
	if _, err := h.MarshalTo(u.out[:rtpstream.HeaderSize]); err != nil {
		u.c.dropped.Add(1)

		return
	}
	if _, err := u.b.trunkLeg().WriteRTP(u.out[:rtpstream.HeaderSize+n]); err != nil {
		u.c.dropped.Add(1)

		return
	}
	u.c.sent.Add(1)
	u.c.octets.Add(uint64(n)) //nolint:gosec // a payload length
	u.c.lastTS.Store(h.Timestamp)
}

// follow makes the uplink send what the trunk negotiated last: m's G.711
// codec and payload type for audio (the transcoder switches at this
// packet boundary, keeping timestamps and sequence numbers), G.711
// silence of that codec while muted, and m's telephone-event payload type
// for mapped and generated digits. It neither allocates nor locks.
func (u *uplink) follow(m *TrunkMedia) {
	u.applied = m
	// FollowTrunk and New checked that m.Codec is G.711, the only error
	// cause.
	_ = u.tc.SetOutput(m.Codec)
	out := u.tc.Output()
	u.hdr.PayloadType = out.PayloadType
	u.silence = transcode.SilencePCMU
	if out.IsPCMA() {
		u.silence = transcode.SilencePCMA
	}
	u.evHdr.PayloadType = m.EventPT
	te := telephony.TelephoneEvent8k.WithPayloadType(m.EventPT)
	for _, mapper := range u.dtmf {
		_ = mapper.SetOutput(te)
	}
}

// randomUint32 returns a random 32-bit value from crypto/rand, for SSRCs
// (RFC 3550 section 8.1).
func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])

	return binary.BigEndian.Uint32(b[:])
}
