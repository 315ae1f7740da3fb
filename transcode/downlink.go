package transcode

import (
	"fmt"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Downlink transcodes the trunk-to-browser direction of one call: G.711 RTP
// payloads in (PCMU or PCMA, RFC 3551, 8 kHz clock, any ptime up to 120
// ms), RTP payloads of the browser's codec out: Opus frames of the
// configured ptime (default 20 ms) with 48 kHz timestamps (RFC 7587), or
// the same G.711 re-chunked when the browser speaks it (passthrough, or
// decoded and re-encoded with WithTranscodeSameCodec).
//
// The Opus encoder runs at 8 kHz with the settings justified in the package
// documentation. A gap in the trunk's stream (lost packets) is concealed
// by repeating the last pitch period of the audio before it, fading to
// silence by 60 ms (after ITU-T G.711 Appendix I, see the package
// documentation), so the browser keeps a steady cadence and hears no
// hole; a gap longer than the maximum gap restarts the stream with a
// timestamp jump. Duplicates and late packets are dropped.
//
// A Downlink belongs to one goroutine: Push, Next and the other methods must
// not be called concurrently. After construction no method allocates.
type Downlink struct {
	p *pipeline
}

// NewDownlink returns a Downlink from the trunk codec in (PCMU or PCMA) to
// the browser codec out (telephony.Opus with its negotiated payload type, or
// PCMU or PCMA). It returns an error wrapping ErrUnsupportedCodec for other
// codecs, ErrInvalidOption for an out-of-range option, or the libopus
// error when the encoder cannot be set up. Options: WithPtime, WithMaxGap,
// WithOpusBitrate, WithOpusComplexity, WithOpusExpectedLoss,
// WithTranscodeSameCodec and WithJitterBuffer.
func NewDownlink(in, out telephony.Codec, opts ...Option) (*Downlink, error) {
	if !in.IsG711() {
		return nil, fmt.Errorf("%w: downlink input %s is not G.711", ErrUnsupportedCodec, in)
	}
	if !out.IsOpus() && !out.IsG711() {
		return nil, fmt.Errorf("%w: downlink output %s", ErrUnsupportedCodec, out)
	}
	p, err := newPipeline(in, out, true, opts)
	if err != nil {
		return nil, err
	}
	return &Downlink{p: p}, nil
}

// Push accepts the G.711 payload of one trunk RTP packet (one byte per
// 8 kHz sample) with its sequence number and 8 kHz timestamp, conceals any
// gap before it (with silence only when less than 35 ms of audio preceded
// the gap), and queues the audio for Next. Call Next until it reports
// false after every Push. It returns an error wrapping
// ErrMalformedPacket for an empty payload or one longer than 120 ms.
func (d *Downlink) Push(seq uint16, ts uint32, payload []byte) error {
	return d.p.push(seq, ts, payload)
}

// PushAt is Push of a packet that arrived at time at, on any monotonic
// clock the caller keeps for the stream (for example the time since the
// call began). The jitter buffer of WithJitterBuffer measures the
// interarrival jitter from these times (RFC 3550 appendix A.8, at 8 kHz)
// and waits for a missing packet by them; without one, PushAt is Push.
// Packets the buffer holds are decoded by a later PushAt, so Next may
// return the frames of several packets after one call, or none.
func (d *Downlink) PushAt(seq uint16, ts uint32, at time.Duration, payload []byte) error {
	return d.p.pushAt(seq, ts, at, payload)
}

// Next writes the next output frame into dst and returns its length and its
// RTP timestamp in the output clock (48 kHz for Opus, 8 kHz for G.711), or
// ok false when no whole frame is pending. dst should hold MaxPayloadSize
// bytes; libopus shrinks a frame to fit a smaller dst, and a frame that
// cannot be written is dropped and counted in Stats.EncodeErrors.
func (d *Downlink) Next(dst []byte) (n int, ts uint32, ok bool) {
	return d.p.next(dst)
}

// MaxPayloadSize returns the number of bytes Next may write: 1275 for Opus
// (RFC 6716 section 3.4 R2), ptime x 8 for G.711.
func (d *Downlink) MaxPayloadSize() int { return d.p.maxPayload() }

// SetInput switches the trunk's codec mid-stream to in (PCMU or PCMA at
// 8000 Hz, with the payload type the trunk negotiated): after a 2xx that
// answers with another codec than the early media, or a re-INVITE (RFC
// 3264 section 8.3.2). Packets pushed from then on are decoded as in; the
// audio already queued is kept, output timestamps go on without a jump and
// the Opus encoder keeps its state. A browser leg that speaks in's format
// moves from transcoding to passthrough, and one that no longer does from
// passthrough to transcoding (WithTranscodeSameCodec applies as at
// construction).
//
// Trunks often open a new RTP stream with the new codec: the first packet
// after the switch may carry any sequence number and timestamp, and its
// audio then follows the queued audio directly (no restart, no silence);
// a packet that continues the old numbering is treated as usual, a gap
// before it concealed.
//
// SetInput is called by the goroutine that owns the Downlink, between two
// Push calls (at a packet boundary). Setting the current codec does
// nothing. It returns an error wrapping ErrUnsupportedCodec, and leaves
// the Downlink as it was, when in is not G.711 at 8000 Hz. It does not
// allocate unless it fails.
func (d *Downlink) SetInput(in telephony.Codec) error { return d.p.switchTrunk(in) }

// Input returns the trunk codec the Downlink decodes, with its payload
// type: the one given to NewDownlink or the last SetInput.
func (d *Downlink) Input() telephony.Codec { return d.p.in }

// MapTimestamp converts an 8 kHz input RTP timestamp, close to the last
// accepted packet, to the output clock on the output timeline.
func (d *Downlink) MapTimestamp(ts uint32) uint32 { return d.p.mapTimestamp(ts) }

// Stats returns the counters so far.
func (d *Downlink) Stats() Stats { return d.p.stats }

// String describes the pipeline, for example "PCMU/8000 decode -> opus
// encode@8k (VOIP, 24000 bit/s, complexity 5, FEC for 10% loss, no DTX),
// ptime 20ms", or "PCMA/8000 decode -> PCMA re-encode, ptime 20ms" with
// WithTranscodeSameCodec.
func (d *Downlink) String() string { return d.p.desc }
