package transcode

import (
	"fmt"
	"strconv"

	"github.com/hraban/opus"
)

const (
	// pcmRate is the sample rate of all audio inside a transcoder: G.711's
	// 8000 Hz. libopus encodes from and decodes to it directly, so no
	// resampler is needed (RFC 7587 section 4.1 fixes only the RTP clock
	// at 48 kHz, not the coded rate).
	pcmRate = 8000
	// opusRatio is the number of 48 kHz RTP clock ticks per 8 kHz slot.
	opusRatio = 48000 / pcmRate
	// plcGranule is the granularity of libopus concealment: 2.5 ms at 8 kHz.
	plcGranule = 20
)

// newOpusDecoder creates a mono libopus decoder producing 8 kHz PCM. A
// stereo stream is down-mixed by libopus.
func newOpusDecoder() (*opus.Decoder, error) {
	dec, err := opus.NewDecoder(pcmRate, 1)
	if err != nil {
		return nil, fmt.Errorf("transcode: opus decoder: %w", err)
	}
	return dec, nil
}

// newOpusEncoder creates a mono libopus encoder for 8 kHz PCM with the
// settings the package documentation justifies: VOIP application, in-band
// FEC on for the expected loss, DTX off, the given bitrate and complexity.
func newOpusEncoder(s settings) (*opus.Encoder, error) {
	enc, err := opus.NewEncoder(pcmRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("transcode: opus encoder: %w", err)
	}
	steps := []struct {
		what string
		err  error
	}{
		{"bitrate", enc.SetBitrate(s.bitrate)},
		{"complexity", enc.SetComplexity(s.complexity)},
		{"in-band FEC", enc.SetInBandFEC(true)},
		{"packet loss", enc.SetPacketLossPerc(s.loss)},
		{"DTX", enc.SetDTX(false)},
	}
	for _, st := range steps {
		if st.err != nil {
			return nil, fmt.Errorf("transcode: opus encoder %s: %w", st.what, st.err)
		}
	}
	return enc, nil
}

// opusDecoder is the audio input of an Opus stream (RFC 7587): it checks
// each packet's table of contents with OpusPacket before libopus sees it
// and decodes it with libopus at 8 kHz. It conceals a gap with libopus
// packet loss concealment, except its last frame, which it decodes from
// the in-band FEC of the packet after the gap when that carries some (RFC
// 6716 section 2.1.7; none after a CELT-only packet).
type opusDecoder struct {
	dec      *opus.Decoder
	pkt      OpusPacket // the packet last parsed
	lastCELT bool       // the last packet decoded was CELT-only
	q        *frameQueue
	stats    *Stats
}

func (d *opusDecoder) duration(payload []byte) (int, error) {
	if err := d.pkt.Parse(payload); err != nil {
		return 0, err
	}
	return d.pkt.Samples48k() / opusRatio, nil
}

func (d *opusDecoder) begin(ts uint32) { d.q.begin(ts) }

func (d *opusDecoder) restart(skip int) { d.q.restart(skip, 0) }

func (d *opusDecoder) conceal(slots, lost int, payload []byte) {
	d.q.reserve(slots)
	// libopus conceals in multiples of 2.5 ms; a remainder (only from odd
	// timestamps) is silence.
	if rem := slots % plcGranule; rem != 0 {
		d.q.fill(rem, 0)
		slots -= rem
	}
	if slots == 0 {
		return
	}
	out := d.q.room(slots)
	var err error
	if lost >= 1 && !d.lastCELT && slots >= d.pkt.FrameSamples48k()/opusRatio && d.pkt.HasFEC(payload) {
		// libopus runs PLC over all but the last frame of the gap, then
		// decodes that frame from the FEC data in payload.
		err = d.dec.DecodeFEC(payload, out)
		d.stats.FEC++
		d.stats.PLC += lost - 1
	} else {
		err = d.dec.DecodePLC(out)
		d.stats.PLC += max(lost, 1)
	}
	if err != nil {
		clear(out)
	}
	d.q.commit(len(out))
}

func (d *opusDecoder) decode(payload []byte, slots int) error {
	out := d.q.packet(slots)
	n, err := d.dec.Decode(payload, out)
	if err != nil || n != len(out) {
		// The TOC was valid but libopus refused the frames: conceal their
		// duration to keep the cadence, and report it.
		d.stats.Malformed++
		if d.dec.DecodePLC(out) != nil {
			clear(out)
		}
		d.q.commit(len(out))
		return errOpusDecode
	}
	d.stats.Packets++
	d.lastCELT = d.pkt.Mode() == OpusModeCELT
	d.q.commit(len(out))
	return nil
}

// String describes the chain from the decoder on.
func (d *opusDecoder) String() string { return "decode@8k (FEC, PLC) -> " + d.q.String() }

// opusEncoder is the frame output of an Opus stream: libopus at 8 kHz with
// the settings of the package documentation.
type opusEncoder struct {
	enc  *opus.Encoder
	desc string
}

// newOpusStage returns the frame output encoding to the Opus codec named
// name with settings s.
func newOpusStage(name string, s settings) (*opusEncoder, error) {
	enc, err := newOpusEncoder(s)
	if err != nil {
		return nil, err
	}
	desc := name + " encode@8k (VOIP, " + strconv.Itoa(s.bitrate) + " bit/s, complexity " + strconv.Itoa(s.complexity) +
		", FEC for " + strconv.Itoa(s.loss) + "% loss, no DTX)"
	return &opusEncoder{enc: enc, desc: desc}, nil
}

func (e *opusEncoder) encode(dst []byte, frame []int16) (int, error) {
	if len(dst) == 0 {
		return 0, ErrShortBuffer
	}
	return e.enc.Encode(frame, dst[:len(dst):len(dst)])
}

func (e *opusEncoder) maxPayload(int) int { return opusMaxFrameBytes }

func (e *opusEncoder) String() string { return e.desc }
