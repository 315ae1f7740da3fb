package transcode

import (
	"fmt"
	"testing"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// opusQuality encodes speech and a 1 kHz tone (8 kHz PCM) with the
// downlink encoder settings s and returns the tone-to-rest ratio (dB), the
// speech spectral envelope correlation, and the share of speech packets
// that carry in-band FEC.
func opusQuality(t *testing.T, s settings, speech []int16) (toneDB, specCorr, fecShare float64) {
	t.Helper()
	run := func(in []int16) ([]int16, int, int) {
		enc, err := newOpusEncoder(s)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := opus.NewDecoder(8000, 1)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		pcm := make([]int16, 160)
		var out []int16
		var fec, packets int
		for i := 0; i+160 <= len(in); i += 160 {
			n, err := enc.Encode(in[i:i+160], buf)
			if err != nil {
				t.Fatal(err)
			}
			var p OpusPacket
			if err := p.Parse(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if p.HasFEC(buf[:n]) {
				fec++
			}
			packets++
			m, err := dec.Decode(buf[:n], pcm)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pcm[:m]...)
		}
		return out, fec, packets
	}
	tone, _, _ := run(testaudio.Sine(1000, 8000, 8000, 0.25))
	toneDB = toneToRestDB(tone[1600:], 8000, 1000)
	out, fec, packets := run(speech)
	envRef, envOut := energyEnvelopeDB(speech, 40), energyEnvelopeDB(out, 40)
	clampFloor(envRef, -70)
	clampFloor(envOut, -70)
	lag, _ := bestLag(envRef, envOut, 20)
	frames := (len(speech) - lag*40) / 160
	specCorr = correlation(spectrogramDB(speech, frames), spectrogramDB(out[lag*40:], frames))
	return toneDB, specCorr, float64(fec) / float64(packets)
}

// TestOpusSettings measures quality against bitrate and complexity for
// the downlink encoder and checks that the defaults reach it: clean
// tones, faithful speech, and in-band FEC actually present (libopus drops
// FEC when the bitrate or the complexity is too low for it). Run it with
// -v for the figures of docs/performance.md.
func TestOpusSettings(t *testing.T) {
	speech := speechSample(t, "The quick brown fox jumps over the lazy dog. One, two, three, four.", 8000)
	var variants []settings
	for _, br := range []int{12000, 16000, 20000, 24000, 32000} {
		s := defaultSettings()
		s.bitrate = br
		variants = append(variants, s)
	}
	for _, c := range []int{0, 1, 3, 8, 10} { // 5 is the default, above
		s := defaultSettings()
		s.complexity = c
		variants = append(variants, s)
	}
	for _, s := range variants {
		name := fmt.Sprintf("bitrate %5d complexity %2d", s.bitrate, s.complexity)
		t.Run(name, func(t *testing.T) {
			tone, spec, fec := opusQuality(t, s, speech)
			t.Logf("%s: tone-to-rest %.1f dB, speech spectral corr %.3f, FEC in %.0f%% of speech packets", name, tone, spec, fec*100)
			if s == defaultSettings() && (tone < 20 || spec < 0.9 || fec < 0.5) {
				t.Errorf("defaults: tone %.1f dB (want >= 20), speech %.3f (>= 0.9), FEC %.0f%% (>= 50%%)", tone, spec, fec*100)
			}
		})
	}
}
