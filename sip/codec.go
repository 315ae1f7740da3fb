package sip

import (
	"strconv"
	"strings"
)

// Codec is an RTP audio payload format the trunk side can carry: its
// encoding name as written in an SDP a=rtpmap line (RFC 4566 section 6), the
// RTP payload type it travels with and its RTP clock rate in Hz.
//
// PayloadType is the number used on the wire in one direction of one call:
// the static types of RFC 3551 section 6 (0 for PCMU, 8 for PCMA) unless a
// peer's SDP maps the codec to a dynamic type (96-127).
type Codec struct {
	// Name is the encoding name, "PCMU" or "PCMA" (compared case-insensitively).
	Name string
	// PayloadType is the RTP payload type number (RFC 3550 section 5.1).
	PayloadType uint8
	// ClockRate is the RTP timestamp clock in Hz (8000 for G.711).
	ClockRate int
}

var (
	// PCMU is G.711 mu-law, static payload type 0, 8000 Hz clock
	// (RFC 3551 section 4.5.14): one byte per sample, 160 bytes per 20 ms.
	PCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	// PCMA is G.711 A-law, static payload type 8, 8000 Hz clock
	// (RFC 3551 section 4.5.14): one byte per sample, 160 bytes per 20 ms.
	PCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

// telephoneEvent is the encoding name of RFC 4733 named telephone events
// (DTMF) in a=rtpmap; the trunk side only uses its 8000 Hz variant.
const telephoneEvent = "telephone-event"

// knownCodecs lists the audio codecs this package can negotiate, with their
// static payload types.
var knownCodecs = [...]Codec{PCMU, PCMA}

// CodecByName returns the codec whose encoding name matches name
// case-insensitively ("pcmu", "PCMA"), with its static payload type, and
// false when the name is not one this package supports.
func CodecByName(name string) (Codec, bool) {
	for _, c := range knownCodecs {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Codec{}, false
}

// String returns the codec as in an a=rtpmap line, "PCMU/8000 (pt 0)".
func (c Codec) String() string {
	return c.Name + "/" + strconv.Itoa(c.ClockRate) + " (pt " + strconv.Itoa(int(c.PayloadType)) + ")"
}

// sameFormat reports whether a and b are the same payload format (encoding
// name and clock rate), whatever payload type numbers they are mapped to.
func sameFormat(a, b Codec) bool {
	return strings.EqualFold(a.Name, b.Name) && a.ClockRate == b.ClockRate
}
