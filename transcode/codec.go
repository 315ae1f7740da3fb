package transcode

import (
	"strconv"
	"strings"
)

// Codec describes an RTP payload format as negotiated in SDP: the encoding
// name of an a=rtpmap line (RFC 4566 section 6), its RTP clock rate in Hz,
// its channel count and the payload type number it travels with on one leg
// of one call (RFC 3550 section 5.1).
type Codec struct {
	// Name is the encoding name ("PCMU", "PCMA", "opus", "telephone-event"),
	// compared case-insensitively.
	Name string
	// ClockRate is the RTP timestamp clock in Hz: 8000 for G.711, always
	// 48000 for Opus (RFC 7587 section 4.1).
	ClockRate int
	// Channels is the channel count of the rtpmap line: 1 for G.711, 2 for
	// Opus (RFC 7587 section 7, even for mono streams).
	Channels int
	// PayloadType is the RTP payload type: static 0 and 8 for PCMU and PCMA
	// (RFC 3551 section 6), a dynamic 96-127 value for Opus and
	// telephone-event, as negotiated.
	PayloadType uint8
}

// Encoding names of the payload formats this package handles.
const (
	namePCMU           = "PCMU"
	namePCMA           = "PCMA"
	nameOpus           = "opus"
	nameTelephoneEvent = "telephone-event"
)

var (
	// CodecPCMU is G.711 mu-law (RFC 3551 section 4.5.14): static payload
	// type 0, 8000 Hz clock, one byte per sample, 160 bytes per 20 ms.
	CodecPCMU = Codec{Name: namePCMU, ClockRate: 8000, Channels: 1, PayloadType: 0}
	// CodecPCMA is G.711 A-law (RFC 3551 section 4.5.14): static payload
	// type 8, 8000 Hz clock, one byte per sample, 160 bytes per 20 ms.
	CodecPCMA = Codec{Name: namePCMA, ClockRate: 8000, Channels: 1, PayloadType: 8}
	// CodecOpus is Opus over RTP (RFC 7587): a 48000 Hz RTP clock and 2
	// channels in SDP whatever is actually coded. Its payload type is
	// dynamic; 111 is only a default (the one browsers commonly offer) and
	// must be replaced by the negotiated one with WithPayloadType.
	CodecOpus = Codec{Name: nameOpus, ClockRate: 48000, Channels: 2, PayloadType: 111}
	// CodecTelephoneEvent8k is the RFC 4733 telephone-event format with an
	// 8000 Hz clock, the variant SIP trunks use. Its payload type is
	// dynamic; 101 is only a common default.
	CodecTelephoneEvent8k = Codec{Name: nameTelephoneEvent, ClockRate: 8000, Channels: 1, PayloadType: 101}
)

// WithPayloadType returns a copy of c that travels with payload type pt.
func (c Codec) WithPayloadType(pt uint8) Codec {
	c.PayloadType = pt
	return c
}

// SameFormat reports whether c and o are the same payload format (encoding
// name, clock rate and channels), whatever payload types they carry.
func (c Codec) SameFormat(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && c.channels() == o.channels()
}

// IsPCMU reports whether c is G.711 mu-law at 8000 Hz.
func (c Codec) IsPCMU() bool { return c.SameFormat(CodecPCMU) }

// IsPCMA reports whether c is G.711 A-law at 8000 Hz.
func (c Codec) IsPCMA() bool { return c.SameFormat(CodecPCMA) }

// IsG711 reports whether c is PCMU or PCMA at 8000 Hz.
func (c Codec) IsG711() bool { return c.IsPCMU() || c.IsPCMA() }

// IsOpus reports whether c is Opus with its 48000 Hz RTP clock.
func (c Codec) IsOpus() bool { return c.SameFormat(CodecOpus) }

// IsTelephoneEvent reports whether c is RFC 4733 telephone-event, at any
// clock rate.
func (c Codec) IsTelephoneEvent() bool { return strings.EqualFold(c.Name, nameTelephoneEvent) }

// String returns the codec in a=rtpmap form with its payload type, for
// example "PCMU/8000 pt 0" or "opus/48000/2 pt 111".
func (c Codec) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(c.ClockRate))
	if c.Channels > 1 {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(c.Channels))
	}
	b.WriteString(" pt ")
	b.WriteString(strconv.Itoa(int(c.PayloadType)))
	return b.String()
}

// channels treats an unset channel count as 1, as an rtpmap line without a
// channel field does (RFC 4566 section 6).
func (c Codec) channels() int {
	if c.Channels == 0 {
		return 1
	}
	return c.Channels
}

// silenceByte returns the G.711 code of a zero sample for c (0xFF for PCMU,
// 0xD5 for PCMA), used to fill gaps when G.711 is relayed untouched.
func (c Codec) silenceByte() byte {
	if c.IsPCMA() {
		return 0xD5
	}
	return 0xFF
}
