package telephony

import (
	"strconv"
	"strings"
)

// Codec describes an RTP payload format as negotiated in SDP: the encoding
// name of an a=rtpmap line (RFC 4566 section 6), its RTP clock rate in Hz,
// its channel count and the payload type number it travels with on one leg
// of one call (RFC 3550 section 5.1).
//
// PayloadType is the number used on the wire in one direction of one call:
// the static types of RFC 3551 section 6 (0 for PCMU, 8 for PCMA) unless
// a peer's SDP maps the codec to a dynamic type (96-127).
type Codec struct {
	// Name is the encoding name ("PCMU", "PCMA", "opus",
	// "telephone-event"), compared case-insensitively.
	Name string
	// ClockRate is the RTP timestamp clock in Hz: 8000 for G.711, always
	// 48000 for Opus (RFC 7587 section 4.1).
	ClockRate int
	// Channels is the channel count of the rtpmap line: 1 for G.711, 2 for
	// Opus (RFC 7587 section 7, even for mono streams); 0 reads as 1.
	Channels int
	// PayloadType is the RTP payload type: static 0 and 8 for PCMU and
	// PCMA (RFC 3551 section 6), a dynamic 96-127 value for Opus and
	// telephone-event, as negotiated.
	PayloadType uint8
}

// Encoding names of the payload formats Webtrunk speaks, as written in
// a=rtpmap lines.
const (
	NamePCMU           = "PCMU"
	NamePCMA           = "PCMA"
	NameOpus           = "opus"
	NameTelephoneEvent = "telephone-event"
)

// Static payload types of RFC 3551 section 6.
const (
	PayloadTypePCMU uint8 = 0
	PayloadTypePCMA uint8 = 8
)

var (
	// PCMU is G.711 mu-law (RFC 3551 section 4.5.14): static payload type
	// 0, 8000 Hz clock, one byte per sample, 160 bytes per 20 ms.
	PCMU = Codec{Name: NamePCMU, ClockRate: 8000, Channels: 1, PayloadType: PayloadTypePCMU}
	// PCMA is G.711 A-law (RFC 3551 section 4.5.14): static payload type
	// 8, 8000 Hz clock, one byte per sample, 160 bytes per 20 ms.
	PCMA = Codec{Name: NamePCMA, ClockRate: 8000, Channels: 1, PayloadType: PayloadTypePCMA}
	// Opus is Opus over RTP (RFC 7587): a 48000 Hz RTP clock and 2
	// channels in SDP whatever is actually coded. Its payload type is
	// dynamic; 111 is only a default (the one browsers commonly offer) and
	// must be replaced by the negotiated one with WithPayloadType.
	Opus = Codec{Name: NameOpus, ClockRate: 48000, Channels: 2, PayloadType: 111}
	// TelephoneEvent8k is the RFC 4733 telephone-event format with an 8000
	// Hz clock, the variant SIP trunks use. Its payload type is dynamic;
	// 101 is only a common default.
	TelephoneEvent8k = Codec{Name: NameTelephoneEvent, ClockRate: 8000, Channels: 1, PayloadType: 101}
	// TelephoneEvent48k is the RFC 4733 telephone-event format at the
	// 48000 Hz clock of Opus, the variant browsers pair with Opus. Its
	// payload type is dynamic; 110 is only a common default.
	TelephoneEvent48k = Codec{Name: NameTelephoneEvent, ClockRate: 48000, Channels: 1, PayloadType: 110}
)

// g711Codecs lists the trunk-side audio codecs, with their static payload
// types.
var g711Codecs = [...]Codec{PCMU, PCMA}

// G711ByName returns PCMU or PCMA, whichever name matches
// case-insensitively ("pcmu", "PCMA"), with its static payload type, and
// false for any other name.
func G711ByName(name string) (Codec, bool) {
	for _, c := range g711Codecs {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Codec{}, false
}

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
func (c Codec) IsPCMU() bool { return c.SameFormat(PCMU) }

// IsPCMA reports whether c is G.711 A-law at 8000 Hz.
func (c Codec) IsPCMA() bool { return c.SameFormat(PCMA) }

// IsG711 reports whether c is PCMU or PCMA at 8000 Hz.
func (c Codec) IsG711() bool { return c.IsPCMU() || c.IsPCMA() }

// IsOpus reports whether c is Opus with its 48000 Hz RTP clock.
func (c Codec) IsOpus() bool { return c.SameFormat(Opus) }

// IsTelephoneEvent reports whether c is RFC 4733 telephone-event, at any
// clock rate.
func (c Codec) IsTelephoneEvent() bool { return strings.EqualFold(c.Name, NameTelephoneEvent) }

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
