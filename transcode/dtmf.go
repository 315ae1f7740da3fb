package transcode

import (
	"encoding/binary"
	"errors"
)

// ErrInvalidEvent is returned by Event.MarshalTo for a volume above 63,
// which the 6-bit field of RFC 4733 section 2.3 cannot carry.
var ErrInvalidEvent = errors.New("transcode: telephone-event volume above 63")

// EventPayloadSize is the size in bytes of one RFC 4733 telephone-event
// payload (RFC 4733 section 2.3).
const EventPayloadSize = 4

// Event is one RFC 4733 named telephone event payload (section 2.3).
type Event struct {
	// Code is the event code: 0-9, 10 '*', 11 '#', 12-15 'A'-'D' for DTMF
	// (RFC 4733 section 3.2); other codes are carried unchanged.
	Code uint8
	// End is the E bit: the packet reports the end of the event
	// (RFC 4733 section 2.5.1.3); it is sent three times.
	End bool
	// Volume is the power level of the tone in -dBm0, 0-63 (RFC 4733
	// section 2.5.2.2); 0 means 0 dBm0, 63 means -63 dBm0 or quieter.
	Volume uint8
	// Duration is the time since the event's start timestamp in RTP clock
	// ticks of the leg (8000 or 48000 per second), RFC 4733 section 2.5.1.2.
	Duration uint16
}

// Unmarshal decodes the first 4 bytes of payload into e. It returns
// ErrShortPayload when payload is shorter than 4 bytes; any following bytes
// are ignored. The reserved R bit is ignored (RFC 4733 section 2.3).
func (e *Event) Unmarshal(payload []byte) error {
	if len(payload) < EventPayloadSize {
		return ErrShortPayload
	}
	e.Code = payload[0]
	e.End = payload[1]&0x80 != 0
	e.Volume = payload[1] & 0x3F
	e.Duration = binary.BigEndian.Uint16(payload[2:4])
	return nil
}

// MarshalTo writes e as a 4-byte payload into dst with the R bit zero and
// returns 4. It returns ErrShortBuffer when dst is shorter than 4 bytes and
// ErrInvalidEvent when Volume exceeds 63.
func (e Event) MarshalTo(dst []byte) (int, error) {
	if len(dst) < EventPayloadSize {
		return 0, ErrShortBuffer
	}
	if e.Volume > 63 {
		return 0, ErrInvalidEvent
	}
	dst[0] = e.Code
	dst[1] = e.Volume
	if e.End {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:4], e.Duration)
	return EventPayloadSize, nil
}

// dtmfDigits lists the DTMF characters by event code (RFC 4733 section 3.2).
const dtmfDigits = "0123456789*#ABCD"

// EventForDigit returns the RFC 4733 event code of a DTMF character: 0-9,
// '*', '#' and A-D (also a-d), and false for any other rune.
func EventForDigit(r rune) (uint8, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint8(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return uint8(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return uint8(r-'a') + 12, true
	}
	return 0, false
}

// DigitForEvent returns the DTMF character of an RFC 4733 event code 0-15
// ('0'-'9', '*', '#', 'A'-'D'), and false for codes above 15, which are not
// DTMF.
func DigitForEvent(code uint8) (rune, bool) {
	if int(code) >= len(dtmfDigits) {
		return 0, false
	}
	return rune(dtmfDigits[code]), true
}
