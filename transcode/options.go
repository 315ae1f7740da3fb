package transcode

import (
	"fmt"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Defaults of the transcoder options. The package documentation says why
// the Opus values are these; docs/performance.md has the measurements.
const (
	// DefaultPtime is the output packet duration: 20 ms, the usual ptime of
	// G.711 trunks (RFC 3551 section 4.5) and of WebRTC Opus.
	DefaultPtime = 20 * time.Millisecond
	// DefaultMaxGap is the longest input gap concealed sample by sample;
	// a longer one restarts the stream with a timestamp jump instead.
	DefaultMaxGap = 100 * time.Millisecond
	// DefaultOpusBitrate is the Opus encoder target in bits per second.
	DefaultOpusBitrate = 24000
	// DefaultOpusComplexity is the Opus encoder complexity, 0-10.
	DefaultOpusComplexity = 5
	// DefaultOpusExpectedLoss is the packet loss in percent the Opus encoder
	// provisions in-band FEC for (OPUS_SET_PACKET_LOSS_PERC).
	DefaultOpusExpectedLoss = 10
)

// Option tunes an Uplink or a Downlink. Options that concern only the Opus
// encoder are accepted and ignored where no Opus encoder exists.
type Option func(*settings)

type settings struct {
	ptime      time.Duration
	maxGap     time.Duration
	bitrate    int
	complexity int
	loss       int
	// reencode turns off passthrough between equal G.711 formats.
	reencode bool
	// jitterMin and jitterMax bound the jitter buffer's wait; both 0
	// without one.
	jitterMin, jitterMax time.Duration
}

func defaultSettings() settings {
	return settings{
		ptime:      DefaultPtime,
		maxGap:     DefaultMaxGap,
		bitrate:    DefaultOpusBitrate,
		complexity: DefaultOpusComplexity,
		loss:       DefaultOpusExpectedLoss,
	}
}

// WithPtime sets the duration of each output packet. G.711 output accepts
// multiples of 10 ms from 10 to 60 ms; Opus output accepts 10, 20, 40 or
// 60 ms (RFC 6716 frame sizes at or above 10 ms). Default DefaultPtime.
func WithPtime(d time.Duration) Option { return func(s *settings) { s.ptime = d } }

// WithMaxGap sets the longest input gap (by RTP timestamp) that is filled
// sample by sample with concealment; longer gaps restart the stream. It
// must be between 20 ms and 1 s. Default DefaultMaxGap.
func WithMaxGap(d time.Duration) Option { return func(s *settings) { s.maxGap = d } }

// WithOpusBitrate sets the Opus encoder target bitrate in bits per second,
// 6000 to 64000. Default DefaultOpusBitrate.
func WithOpusBitrate(bps int) Option { return func(s *settings) { s.bitrate = bps } }

// WithOpusComplexity sets the Opus encoder complexity, 0 (cheapest) to 10.
// Default DefaultOpusComplexity.
func WithOpusComplexity(c int) Option { return func(s *settings) { s.complexity = c } }

// WithOpusExpectedLoss sets the packet loss, in percent (0-100), that the
// Opus encoder provisions in-band FEC for. Default DefaultOpusExpectedLoss.
func WithOpusExpectedLoss(percent int) Option { return func(s *settings) { s.loss = percent } }

// WithTranscodeSameCodec decides what happens when input and output are the
// same G.711 format (PCMU to PCMU or PCMA to PCMA, whatever their payload
// types). false, the default, relays the payload bytes and only re-chunks
// them into frames of the output ptime (passthrough). true decodes every
// packet to 16-bit PCM at 8 kHz and encodes it again, exactly as between
// two different G.711 codecs: the same re-chunking, concealment and Stats,
// and the trunk or browser receives canonical G.711 (for example PCMU
// negative zero, 0x7F, becomes 0xFF). It has no effect when the formats
// differ. String tells the two paths apart ("passthrough" or
// "decode -> ... re-encode").
func WithTranscodeSameCodec(on bool) Option { return func(s *settings) { s.reencode = on } }

// WithJitterBuffer puts an adaptive jitter buffer in front of the
// transcoder: packets that arrive out of order are handed on in sequence
// order instead of being dropped as late, and the wait for a missing
// packet is jitterFactor (3) times the measured interarrival jitter (RFC
// 3550 appendix A.8), kept between minDepth and maxDepth, before its time
// is concealed. In-order packets cross it with no delay; the packets
// behind a missing one are delayed by at most maxDepth. It needs
// 0 < minDepth <= maxDepth <= MaxJitterDepth. Without this option (the
// default) there is no buffer. Uplink.PushAt gives it the arrival times it
// measures jitter from; Push measures time by the RTP timestamps alone, so
// the wait stays at minDepth. DefaultJitterMin and DefaultJitterMax are
// the usual bounds.
func WithJitterBuffer(minDepth, maxDepth time.Duration) Option {
	return func(s *settings) { s.jitterMin, s.jitterMax = minDepth, maxDepth }
}

func (s *settings) validate(out telephony.Codec) error {
	ms := s.ptime.Milliseconds()
	if s.ptime != time.Duration(ms)*time.Millisecond {
		return fmt.Errorf("%w: ptime %v is not whole milliseconds", ErrInvalidOption, s.ptime)
	}
	if out.IsOpus() {
		if ms != 10 && ms != 20 && ms != 40 && ms != 60 {
			return fmt.Errorf("%w: Opus ptime %v not 10, 20, 40 or 60 ms", ErrInvalidOption, s.ptime)
		}
	} else if ms < 10 || ms > 60 || ms%10 != 0 {
		return fmt.Errorf("%w: G.711 ptime %v not a multiple of 10 ms in 10-60 ms", ErrInvalidOption, s.ptime)
	}
	if s.maxGap < 20*time.Millisecond || s.maxGap > time.Second {
		return fmt.Errorf("%w: max gap %v outside 20 ms-1 s", ErrInvalidOption, s.maxGap)
	}
	if s.bitrate < 6000 || s.bitrate > 64000 {
		return fmt.Errorf("%w: Opus bitrate %d outside 6000-64000 bit/s", ErrInvalidOption, s.bitrate)
	}
	if s.complexity < 0 || s.complexity > 10 {
		return fmt.Errorf("%w: Opus complexity %d outside 0-10", ErrInvalidOption, s.complexity)
	}
	if s.jitterMin != 0 || s.jitterMax != 0 {
		if s.jitterMin <= 0 || s.jitterMax < s.jitterMin || s.jitterMax > MaxJitterDepth {
			return fmt.Errorf("%w: jitter buffer %v-%v not within 0-%v", ErrInvalidOption, s.jitterMin, s.jitterMax, MaxJitterDepth)
		}
	}
	if s.loss < 0 || s.loss > 100 {
		return fmt.Errorf("%w: Opus expected loss %d%% outside 0-100", ErrInvalidOption, s.loss)
	}
	return nil
}
