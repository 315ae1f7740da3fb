package transcode

import (
	"fmt"

	"github.com/hraban/opus"
)

// pcmRate is the sample rate of all audio inside a transcoder: G.711's
// 8000 Hz. libopus encodes from and decodes to it directly, so no
// resampler is needed (RFC 7587 section 4.1 fixes only the RTP clock at
// 48 kHz, not the coded rate).
const pcmRate = 8000

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
