package bridge

import (
	"fmt"
	"strconv"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// TrunkMedia is the trunk's negotiated audio, as both directions must send
// and receive it. A trunk may change it while media flows: the 2xx of an
// outbound INVITE answers with another codec than the 183 that started
// early media (RFC 3261 section 13.2.1: the answer in the 2xx is the one
// that counts), or a re-INVITE or UPDATE negotiates a new one (RFC 3264
// section 8.3.2).
type TrunkMedia struct {
	// Codec is the trunk's G.711 codec (PCMU or PCMA) with the payload
	// type it negotiated.
	Codec telephony.Codec
	// EventPT is the trunk's telephone-event/8000 payload type (RFC 4733),
	// 0 when it negotiated none.
	EventPT uint8
}

// String describes the trunk's audio for logs, for example
// "PCMA/8000 pt 8, telephone-event pt 101".
func (m TrunkMedia) String() string {
	if m.EventPT == 0 {
		return m.Codec.String() + ", no telephone-event"
	}

	return m.Codec.String() + ", telephone-event pt " + strconv.Itoa(int(m.EventPT))
}

// normalize returns m with its codec as the transcoder describes it, with
// the trunk's payload type. It returns an error wrapping
// transcode.ErrUnsupportedCodec for a codec other than G.711.
func normalize(m TrunkMedia) (TrunkMedia, error) {
	switch m.Codec.Name {
	case telephony.PCMU.Name:
		m.Codec = telephony.PCMU.WithPayloadType(m.Codec.PayloadType)
	case telephony.PCMA.Name:
		m.Codec = telephony.PCMA.WithPayloadType(m.Codec.PayloadType)
	default:
		return TrunkMedia{}, fmt.Errorf("%w: trunk codec %s", transcode.ErrUnsupportedCodec, m.Codec)
	}

	return m, nil
}

// newTranscoders builds the two transcoders of a call: the uplink from the
// browser's audio codec to the trunk's G.711 codec trunk, and the downlink
// back. When both legs negotiated the same G.711 format, reencode decides
// between relaying the payloads re-chunked (false) and decoding and
// re-encoding them (true); it changes nothing when the codecs differ.
// complexity is the Opus encoder's, used when the browser's codec is
// Opus. upJitter and downJitter bound each direction's jitter buffer.
// Errors wrap transcode.ErrUnsupportedCodec or transcode.ErrInvalidOption.
func newTranscoders(browser, trunk telephony.Codec, reencode bool, complexity int, upJitter, downJitter jitterBounds) (*transcode.Uplink, *transcode.Downlink, error) {
	same := transcode.WithTranscodeSameCodec(reencode)
	up, err := transcode.NewUplink(browser, trunk, upJitter.options(same)...)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: uplink: %w", err)
	}
	down, err := transcode.NewDownlink(trunk, browser, downJitter.options(same, transcode.WithOpusComplexity(complexity))...)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge: downlink: %w", err)
	}

	return up, down, nil
}

// jitterBounds are the shortest and longest wait of a direction's jitter
// buffer for a missing packet; max zero: no jitter buffer.
type jitterBounds struct{ min, max time.Duration }

// options returns opts with the jitter buffer's option added when there
// is one.
func (j jitterBounds) options(opts ...transcode.Option) []transcode.Option {
	if j.max == 0 {
		return opts
	}

	return append(opts, transcode.WithJitterBuffer(j.min, j.max))
}

// TrunkMedia is the trunk's audio the bridge follows now.
func (b *Bridge) TrunkMedia() TrunkMedia { return *b.media.Load() }

// FollowTrunk makes both directions follow the trunk's negotiated audio m
// from their next packet on: the uplink sends m's codec and payload type
// (the transcoder switches at a packet boundary, keeping the stream's
// timestamps and sequence numbers), G.711 silence of that codec while
// muted and m's telephone-event payload type for mapped and generated
// digits; the downlink decodes m's payload type as m's codec and reads
// telephone-events of m's payload type. Each direction picks the change up
// with one atomic load per packet, without allocating. It returns the
// media the bridge followed before and the media it follows now (equal
// when m changed nothing). A codec other than G.711 is refused with an
// error wrapping transcode.ErrUnsupportedCodec and the bridge keeps the
// previous one.
func (b *Bridge) FollowTrunk(m TrunkMedia) (old, cur TrunkMedia, err error) {
	next, err := normalize(m)
	b.followMu.Lock()
	defer b.followMu.Unlock()
	prev := b.media.Load()
	if err != nil {
		return *prev, *prev, err
	}
	if *prev != next {
		b.media.Store(&next)
	}

	return *prev, next, nil
}
