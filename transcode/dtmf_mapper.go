package transcode

import (
	"fmt"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/telephony"
)

// TimestampMapper converts an RTP timestamp of an input stream to the clock
// and timeline of the matching output stream. Uplink and Downlink
// implement it, so telephone events can share the audio's timeline.
type TimestampMapper interface {
	MapTimestamp(ts uint32) uint32
}

// DTMFStats counts what a DTMFMapper did.
type DTMFStats struct {
	// Packets is the number of telephone-event packets mapped.
	Packets int
	// Events is the number of distinct events (start timestamps) seen.
	Events int
	// Rejected is the number of packets refused (wrong payload type,
	// short payload).
	Rejected int
	// Regenerated is the number of events that arrived as end packets
	// only and were handed to the regenerating DTMFGenerator.
	Regenerated int
}

// DTMFMapper carries RFC 4733 telephone events from one leg to another
// whose telephone-event has a different payload type or clock rate, for
// example the browser's telephone-event/48000 to the trunk's
// telephone-event/8000. It rewrites the payload type, converts the event
// start timestamp to the output clock (the same for every packet of an
// event, RFC 4733 section 2.5.1.2) and scales the duration, and passes every
// packet through, including the three end-of-event retransmissions
// (section 2.5.1.4).
//
// An event whose first packet to arrive is already an end packet (Chromium
// reports each digit this way, as three marked end packets in the same
// millisecond, when an answer lists telephone-event at both 8000 and 48000
// Hz) cannot be passed on well-formed. With a generator set by Regenerate,
// such an event is handed to it with its code, volume and duration, and
// leaves as a start packet, updates and three end packets in place of the
// output stream's audio frames; its packets produce no output of their own.
//
// A DTMFMapper belongs to one goroutine, normally the one that runs the
// Uplink or Downlink of the same direction. Map does not allocate.
type DTMFMapper struct {
	in, out  telephony.Codec
	timeline TimestampMapper

	based   bool
	baseIn  uint32 // input timestamp of the first event, without timeline
	baseOut uint32

	active   bool
	startIn  uint32
	startOut uint32
	stats    DTMFStats

	regen       *DTMFGenerator
	regenerated bool // the event in progress went to regen
	remark      bool // the output payload type changed: mark the next packet
}

// NewDTMFMapper returns a mapper from the telephone-event codec in to the
// telephone-event codec out (payload types and clock rates as negotiated,
// clock rates 8000 or 48000). timeline, when not nil, converts start
// timestamps so events line up with the audio of the output stream (pass
// the Uplink or Downlink of the same direction); when nil the mapper scales
// timestamps itself. It returns an error wrapping ErrUnsupportedCodec when
// either codec is not telephone-event at a supported rate.
func NewDTMFMapper(in, out telephony.Codec, timeline TimestampMapper) (*DTMFMapper, error) {
	for _, c := range []telephony.Codec{in, out} {
		if !c.IsTelephoneEvent() || (c.ClockRate != 8000 && c.ClockRate != 48000) {
			return nil, fmt.Errorf("%w: %s is not telephone-event at 8000 or 48000 Hz", ErrUnsupportedCodec, c)
		}
	}
	return &DTMFMapper{in: in, out: out, timeline: timeline}, nil
}

// Regenerate makes the mapper hand events that arrive without a start (only
// end packets) to g, which sends them afresh on the output stream; nil
// passes them through as they are. Call it before the first Map.
func (m *DTMFMapper) Regenerate(g *DTMFGenerator) { m.regen = g }

// InPayloadType returns the payload type of the input leg's telephone
// events, to tell them from audio when demultiplexing.
func (m *DTMFMapper) InPayloadType() uint8 { return m.in.PayloadType }

// SetOutput changes the output leg's telephone-event codec mid-call, for
// example when a trunk's re-INVITE maps telephone-event/8000 to another
// payload type (RFC 3264 section 8.3.2). Packets mapped from then on carry
// out's payload type; an event in progress goes on under it as a new
// event, its next packet marked (RFC 4733 section 2.5.1.1) with the
// event's start timestamp unchanged.
//
// SetOutput is called by the goroutine that owns the mapper. It returns an
// error wrapping ErrUnsupportedCodec, and leaves the mapper as it was,
// when out is not telephone-event at the current output clock rate (event
// timestamps and durations cannot change clock mid-call). It does not
// allocate unless it fails.
func (m *DTMFMapper) SetOutput(out telephony.Codec) error {
	if !out.IsTelephoneEvent() || out.ClockRate != m.out.ClockRate {
		return fmt.Errorf("%w: %s is not telephone-event at %d Hz", ErrUnsupportedCodec, out, m.out.ClockRate)
	}
	if out.PayloadType != m.out.PayloadType {
		m.remark = true
	}
	m.out = out
	return nil
}

// Output returns the output leg's telephone-event codec.
func (m *DTMFMapper) Output() telephony.Codec { return m.out }

// Map converts the telephone-event packet in into the output leg: it sets
// out's PayloadType, Timestamp and Marker (set on the first packet of each
// event, RFC 4733 section 2.5.1.1) and writes the 4-byte event payload into
// dst, returning its length. The caller sets out's sequence number and
// SSRC, those of the output stream. Map returns 0 and no error, and out is
// left as it was, when the packet yields nothing to send: it belongs to an
// event handed to the generator of Regenerate. Map returns ErrPayloadType for another
// payload type, ErrShortPayload for a payload under 4 bytes and
// ErrShortBuffer for a dst under 4 bytes.
func (m *DTMFMapper) Map(in *rtp.Packet, out *rtp.Header, dst []byte) (int, error) {
	if in.PayloadType != m.in.PayloadType {
		m.stats.Rejected++
		return 0, ErrPayloadType
	}
	var ev Event
	if err := ev.Unmarshal(in.Payload); err != nil {
		m.stats.Rejected++
		return 0, err
	}
	if len(dst) < EventPayloadSize {
		m.stats.Rejected++
		return 0, ErrShortBuffer
	}
	first := !m.active || in.Timestamp != m.startIn
	if first {
		m.active = true
		m.startIn = in.Timestamp
		m.startOut = m.mapStart(in.Timestamp)
		m.stats.Events++
		m.regenerated = false
	}
	ev.Duration = m.scaleDuration(ev.Duration)
	if first && ev.End && m.regen != nil {
		if err := m.regen.EnqueueEvent(ev); err != nil {
			m.stats.Rejected++

			return 0, err
		}
		m.regenerated = true
		m.stats.Regenerated++
	}
	if m.regenerated {
		m.stats.Packets++

		return 0, nil
	}
	n, err := ev.MarshalTo(dst)
	if err != nil {
		m.stats.Rejected++
		return 0, err
	}
	out.PayloadType = m.out.PayloadType
	out.Timestamp = m.startOut
	out.Marker = first || m.remark
	m.remark = false
	m.stats.Packets++
	return n, nil
}

// Stats returns the counters so far.
func (m *DTMFMapper) Stats() DTMFStats { return m.stats }

// String describes the mapping, for example
// "telephone-event/48000 pt 126 -> telephone-event/8000 pt 101".
func (m *DTMFMapper) String() string {
	return m.in.String() + " -> " + m.out.String()
}

// mapStart converts an event's start timestamp to the output clock.
func (m *DTMFMapper) mapStart(ts uint32) uint32 {
	if m.timeline != nil {
		return m.timeline.MapTimestamp(ts)
	}
	if !m.based {
		m.based = true
		m.baseIn = ts
		m.baseOut = uint32(uint64(ts) * uint64(m.out.ClockRate) / uint64(m.in.ClockRate))
	}
	d := int64(int32(ts - m.baseIn))
	return m.baseOut + uint32(d*int64(m.out.ClockRate)/int64(m.in.ClockRate))
}

// scaleDuration converts a duration from the input to the output clock,
// rounding to the nearest tick and saturating at 0xFFFF (RFC 4733 section
// 2.5.2.3 splits longer events into segments, each with its own start).
func (m *DTMFMapper) scaleDuration(d uint16) uint16 {
	if m.in.ClockRate == m.out.ClockRate {
		return d
	}
	v := (uint64(d)*uint64(m.out.ClockRate) + uint64(m.in.ClockRate)/2) / uint64(m.in.ClockRate)
	return uint16(min(v, 0xFFFF))
}
