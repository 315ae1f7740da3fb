package transcode

import (
	"errors"
	"fmt"
)

// Sentinel errors of package transcode. Match them with errors.Is; the
// per-packet paths return them unwrapped (or pre-wrapped at package
// initialisation) so that rejecting a packet never allocates.
var (
	// ErrUnsupportedCodec is returned by the constructors when a codec is
	// not one this package can decode or encode in that position (for
	// example Opus as the trunk codec of an Uplink).
	ErrUnsupportedCodec = errors.New("transcode: unsupported codec")
	// ErrInvalidOption is returned by the constructors for an option value
	// out of range (ptime, gap bound, Opus bitrate, complexity, loss).
	ErrInvalidOption = errors.New("transcode: invalid option")
	// ErrMalformedPacket is returned by Push for a payload that cannot be a
	// packet of the input codec: empty, too long, or an Opus packet that
	// breaks RFC 6716 section 3.4. Every Opus parse error wraps it.
	ErrMalformedPacket = errors.New("transcode: malformed packet")
	// ErrShortPayload is returned when decoding an RFC 4733 telephone-event
	// payload shorter than its 4 bytes (RFC 4733 section 2.3).
	ErrShortPayload = errors.New("transcode: telephone-event payload shorter than 4 bytes")
	// ErrShortBuffer is returned when a destination buffer is too small for
	// what must be written into it.
	ErrShortBuffer = errors.New("transcode: destination buffer too small")
	// ErrPayloadType is returned by DTMFMapper.Map for a packet whose
	// payload type is not the mapper's input telephone-event payload type.
	ErrPayloadType = errors.New("transcode: unexpected payload type")
)

// Opus packet parse errors, one per rule of RFC 6716 section 3.4. Each
// wraps ErrMalformedPacket.
var (
	errOpusEmpty      = fmt.Errorf("%w: opus packet has no TOC byte (RFC 6716 3.4 R1)", ErrMalformedPacket)
	errOpusFrameLen   = fmt.Errorf("%w: opus frame longer than 1275 bytes (RFC 6716 3.4 R2)", ErrMalformedPacket)
	errOpusCode1Odd   = fmt.Errorf("%w: opus code 1 packet with odd payload length (RFC 6716 3.4 R3)", ErrMalformedPacket)
	errOpusTruncated  = fmt.Errorf("%w: opus frame length exceeds packet (RFC 6716 3.4 R4, R7)", ErrMalformedPacket)
	errOpusFrameCount = fmt.Errorf("%w: opus code 3 packet with 0 frames or over 120 ms (RFC 6716 3.4 R5)", ErrMalformedPacket)
	errOpusPadding    = fmt.Errorf("%w: opus padding exceeds packet (RFC 6716 3.4 R6, R7)", ErrMalformedPacket)
	errOpusCBR        = fmt.Errorf("%w: opus CBR payload not a multiple of the frame count (RFC 6716 3.4 R6)", ErrMalformedPacket)
	errG711TooLong    = fmt.Errorf("%w: G.711 payload longer than 120 ms", ErrMalformedPacket)
	errG711Empty      = fmt.Errorf("%w: empty G.711 payload", ErrMalformedPacket)
	errOpusDecode     = fmt.Errorf("%w: libopus rejected the packet", ErrMalformedPacket)
)
