package transcode

import (
	"fmt"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Uplink transcodes the browser-to-trunk direction of one call: RTP
// payloads of the browser's codec in (Opus, RFC 7587, 48 kHz RTP clock),
// G.711 payloads of the trunk's codec out (PCMU or PCMA, RFC 3551, 8 kHz RTP
// clock) in frames of the configured ptime.
//
// Opus is decoded by libopus directly at 8 kHz. Lost packets are filled so
// that the trunk sees an unbroken stream: from the in-band FEC of the next
// packet when it carries some, else by libopus packet loss concealment.
// Gaps longer than the maximum gap restart the stream with a timestamp jump;
// duplicates and packets older than the last one are dropped. When the
// browser already sends the trunk's G.711 codec the payload bytes are only
// re-chunked (passthrough), or decoded and re-encoded with
// WithTranscodeSameCodec; a different G.711 codec is converted.
//
// An Uplink belongs to one goroutine: Push, Next and the other methods must
// not be called concurrently. After construction no method allocates.
type Uplink struct {
	p *pipeline
}

// NewUplink returns an Uplink from the browser codec in (telephony.Opus, or PCMU
// or PCMA with any payload type) to the trunk codec out (PCMU or PCMA). It
// returns an error wrapping ErrUnsupportedCodec for other codecs and
// ErrInvalidOption for an out-of-range option. Options: WithPtime (output
// ptime, default 20 ms), WithMaxGap, WithTranscodeSameCodec and
// WithJitterBuffer.
func NewUplink(in, out telephony.Codec, opts ...Option) (*Uplink, error) {
	if !out.IsG711() {
		return nil, fmt.Errorf("%w: uplink output %s is not G.711", ErrUnsupportedCodec, out)
	}
	if !in.IsOpus() && !in.IsG711() {
		return nil, fmt.Errorf("%w: uplink input %s", ErrUnsupportedCodec, in)
	}
	p, err := newPipeline(in, out, false, opts)
	if err != nil {
		return nil, err
	}
	return &Uplink{p: p}, nil
}

// Push accepts the payload of one input RTP packet with its sequence number
// and timestamp (input clock: 48 kHz for Opus, 8 kHz for G.711). It
// decodes it, first concealing any gap before it, and queues the audio for
// Next. Call Next until it reports false after every Push.
//
// Push returns an error wrapping ErrMalformedPacket when payload is not a
// valid packet of the input codec (RFC 6716 section 3.4 for Opus); the
// packet is counted in Stats and, if its duration was known, concealed.
// Duplicates and late packets are dropped without error.
func (u *Uplink) Push(seq uint16, ts uint32, payload []byte) error {
	return u.p.push(seq, ts, payload)
}

// PushAt is Push of a packet that arrived at time at, on any monotonic
// clock the caller keeps for the stream (for example the time since the
// call began). The jitter buffer of WithJitterBuffer measures the
// interarrival jitter from these times (RFC 3550 appendix A.8) and waits
// for a missing packet by them; without one, PushAt is Push. Packets the
// buffer holds are decoded by a later PushAt, so Next may return the
// frames of several packets after one call, or none.
func (u *Uplink) PushAt(seq uint16, ts uint32, at time.Duration, payload []byte) error {
	return u.p.pushAt(seq, ts, at, payload)
}

// Next writes the next output G.711 frame (ptime x 8 bytes) into dst and
// returns its length and its RTP timestamp at 8 kHz, or ok false when no
// whole frame is pending. dst must hold MaxPayloadSize bytes; a frame that
// does not fit is dropped and counted in Stats.EncodeErrors.
//
// Output timestamps advance by the frame length, and jump forward after a
// gap longer than the maximum gap (the caller should set the RTP marker
// bit on such a frame, RFC 3551 section 4.1).
func (u *Uplink) Next(dst []byte) (n int, ts uint32, ok bool) {
	return u.p.next(dst)
}

// MaxPayloadSize returns the number of bytes Next may write: ptime x 8.
func (u *Uplink) MaxPayloadSize() int { return u.p.maxPayload() }

// SetOutput switches the trunk's codec mid-stream to out (PCMU or PCMA at
// 8000 Hz, with the payload type the trunk negotiated): after a 2xx that
// answers with another codec than the early media, or a re-INVITE (RFC
// 3264 section 8.3.2). Every frame Next returns from then on, including
// the audio already queued, is encoded in out; timestamps go on without a
// jump and the Opus decoder keeps its state. A browser leg that speaks
// out's format moves from transcoding to passthrough, and one that no
// longer does from passthrough to transcoding (WithTranscodeSameCodec
// applies as at construction).
//
// SetOutput is called by the goroutine that owns the Uplink, between two
// Push calls (at a packet boundary). Setting the current codec does
// nothing. It returns an error wrapping ErrUnsupportedCodec, and leaves
// the Uplink as it was, when out is not G.711 at 8000 Hz. It does not
// allocate unless it fails.
func (u *Uplink) SetOutput(out telephony.Codec) error { return u.p.switchTrunk(out) }

// Output returns the trunk codec the Uplink encodes to, with its payload
// type: the one given to NewUplink or the last SetOutput.
func (u *Uplink) Output() telephony.Codec { return u.p.out }

// MapTimestamp converts an RTP timestamp of the input clock, close to the
// last accepted packet, to the output clock on the output timeline, so that
// other packets of the same input stream (RFC 4733 telephone events) land
// at the matching position among the output frames.
func (u *Uplink) MapTimestamp(ts uint32) uint32 { return u.p.mapTimestamp(ts) }

// Stats returns the counters so far.
func (u *Uplink) Stats() Stats { return u.p.stats }

// String describes the pipeline, for example
// "opus/48000 decode@8k (FEC, PLC) -> PCMU encode, ptime 20ms",
// "PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms" or, with
// WithTranscodeSameCodec, "PCMU/8000 decode -> PCMU re-encode, ptime 20ms".
func (u *Uplink) String() string { return u.p.desc }
