package transcode

import (
	"math"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// Audio proofs: what the browser says reaches the trunk and comes back at
// the right frequency and level, and nothing else.

func TestToneThroughUplinkAndDownlink(t *testing.T) {
	tests := []struct {
		name  string
		trunk telephony.Codec
		freq  float64
		amp   float64
	}{
		{"1 kHz PCMU", telephony.PCMU, 1000, 0.25},
		{"1 kHz PCMA", telephony.PCMA, 1000, 0.25},
		{"440 Hz PCMU", telephony.PCMU, 440, 0.5},
		{"440 Hz PCMA quiet", telephony.PCMA, 440, 0.05},
		{"300 Hz PCMU", telephony.PCMU, 300, 0.25},
		{"3 kHz PCMA", telephony.PCMA, 3000, 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := testaudio.Sine(tc.freq, browserRate, 2*browserRate, tc.amp)
			res := runChain(t, in, tc.trunk, nil)
			wantDB := testaudio.LevelDBFS(in)
			// Skip the codecs' start-up (200 ms) and compare 500 ms of steady state.
			checks := []struct {
				leg  string
				x    []int16
				rate int
			}{
				{"trunk", res.trunkPC[1600:5600], 8000},
				// The browser hears narrowband Opus: analyse it at 8 kHz too.
				{"browser", decimate6(res.browser)[1600:5600], 8000},
			}
			for _, c := range checks {
				f := dominantFrequency(c.x, c.rate, 100, 3900)
				if math.Abs(f-tc.freq) > 0.02*tc.freq {
					t.Errorf("%s heard %.1f Hz, want %.0f Hz +-2%%", c.leg, f, tc.freq)
				}
				if l := testaudio.LevelDBFS(c.x); math.Abs(l-wantDB) > 3 {
					t.Errorf("%s level %.1f dBFS, sent %.1f dBFS (+-3 dB)", c.leg, l, wantDB)
				}
				// Not heard as anything else: no other frequency comes within
				// 30 dB of the tone, and the waveform is that tone with all
				// distortion and noise 15 dB or more below it.
				other := strongestOtherDB(c.x, c.rate, tc.freq, 50, 3950)
				if other < 30 {
					t.Errorf("%s: another component only %.1f dB below the %.0f Hz tone", c.leg, other, tc.freq)
				}
				rest := toneToRestDB(c.x, c.rate, f)
				if rest < 15 {
					t.Errorf("%s: %.0f Hz tone only %.1f dB above everything else", c.leg, tc.freq, rest)
				}
				t.Logf("%s: %.2f Hz, %.2f dBFS (sent %.2f), other components -%.1f dB, tone-to-rest %.1f dB",
					c.leg, f, testaudio.LevelDBFS(c.x), wantDB, other, rest)
			}
		})
	}
}

// decimate6 keeps every 6th sample: 48 kHz to 8 kHz for signals that have
// no content above 4 kHz.
func decimate6(x []int16) []int16 {
	out := make([]int16, 0, len(x)/6)
	for i := 0; i < len(x); i += 6 {
		out = append(out, x[i])
	}
	return out
}

func TestSweepThroughUplinkAndDownlink(t *testing.T) {
	t.Parallel()
	const (
		seconds = 4
		window  = 0.05 // seconds per analysis window
	)
	in := logSweep(300, 3400, browserRate, seconds*browserRate, 0.25)
	res := runChain(t, in, telephony.PCMU, nil)
	legs := []struct {
		name string
		ref  []int16
		out  []int16
		rate int
	}{
		{"trunk", decimate6(in), res.trunkPC, 8000},
		// The browser hears narrowband Opus (nothing above 4 kHz), so its
		// output is analysed at 8 kHz too.
		{"browser", decimate6(in), decimate6(res.browser), 8000},
	}
	for _, leg := range legs {
		t.Run(leg.name, func(t *testing.T) {
			lag, c := bestLag(toFloat(leg.ref), toFloat(leg.out), leg.rate/10)
			if c < 0.5 {
				t.Fatalf("output does not follow the sweep: best correlation %.2f", c)
			}
			w := int(window * float64(leg.rate))
			var checked int
			for start := leg.rate / 5; start+w+lag <= len(leg.out) && start+w <= len(leg.ref)-leg.rate/10; start += w {
				ref, out := leg.ref[start:start+w], leg.out[start+lag:start+lag+w]
				fi := dominantFrequency(ref, leg.rate, 200, 3600)
				fo := dominantFrequency(out, leg.rate, 200, 3600)
				if math.Abs(fo-fi) > 0.02*fi {
					t.Errorf("at %.2fs: sent %.0f Hz, heard %.0f Hz", float64(start)/float64(leg.rate), fi, fo)
				}
				if d := testaudio.LevelDBFS(out) - testaudio.LevelDBFS(ref); math.Abs(d) > 3 {
					t.Errorf("at %.2fs (%.0f Hz): level off by %.1f dB", float64(start)/float64(leg.rate), fi, d)
				}
				checked++
			}
			if checked < 60 {
				t.Fatalf("only %d windows checked", checked)
			}
			t.Logf("%s: delay %.1f ms, correlation %.2f, %d windows within +-2%% and +-3 dB", leg.name, float64(lag)*1000/float64(leg.rate), c, checked)
		})
	}
}
