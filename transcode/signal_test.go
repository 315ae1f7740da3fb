package transcode

import (
	"math"
	"testing"
)

// Test signal generation and analysis: tones, sweeps, Goertzel detection,
// levels and envelopes. Everything the audio tests hear is generated here
// or by espeak-ng at test time.

// toneAt returns n samples of a sine at freq Hz sampled at rate Hz with
// peak amplitude amp (0-1 of full scale).
func toneAt(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return out
}

// logSweep returns a sine whose frequency rises exponentially from f0 to f1
// Hz over n samples at rate Hz, and the instantaneous frequency per sample.
func logSweep(f0, f1 float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	dur := float64(n) / float64(rate)
	k := math.Log(f1 / f0)
	for i := range out {
		t := float64(i) / float64(rate)
		phase := 2 * math.Pi * f0 * dur / k * (math.Exp(t/dur*k) - 1)
		out[i] = int16(math.Round(amp * 32767 * math.Sin(phase)))
	}
	return out
}

// goertzelPower returns the power of x at freq Hz (rate Hz sampling) after
// a Hann window, normalised so a full-window sine of amplitude A gives
// about A*A/4 * (window gain).
func goertzelPower(x []int16, rate int, freq float64) float64 {
	n := len(x)
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for i, v := range x {
		win := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		s := float64(v)*win + coeff*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// dominantFrequency scans lo-hi Hz in 5 Hz steps and refines around the
// peak in 0.25 Hz steps, returning the frequency of highest power.
func dominantFrequency(x []int16, rate int, lo, hi float64) float64 {
	best, bestP := lo, -1.0
	for f := lo; f <= hi; f += 5 {
		if p := goertzelPower(x, rate, f); p > bestP {
			best, bestP = f, p
		}
	}
	center := best
	for f := center - 5; f <= center+5; f += 0.25 {
		if p := goertzelPower(x, rate, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// rmsDB returns the RMS level of x in dB relative to full scale.
func rmsDB(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(x))/(32767.0*32767.0)+1e-20)
}

// toneToRestDB fits a sine of frequency freq (least squares) to x and
// returns the ratio of its energy to the energy of everything else, in dB:
// how cleanly x is that tone and nothing else.
func toneToRestDB(x []int16, rate int, freq float64) float64 {
	var ss, cc, sc, xs, xc float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		s, c := math.Sin(w), math.Cos(w)
		ss += s * s
		cc += c * c
		sc += s * c
		xs += float64(v) * s
		xc += float64(v) * c
	}
	det := ss*cc - sc*sc
	a := (xs*cc - xc*sc) / det
	b := (xc*ss - xs*sc) / det
	var sig, rest float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		fit := a*math.Sin(w) + b*math.Cos(w)
		sig += fit * fit
		d := float64(v) - fit
		rest += d * d
	}
	return 10 * math.Log10(sig/(rest+1e-9))
}

// bestLag returns the lag in samples (0..maxLag) at which y best matches x
// (y[i+lag] ~ x[i]), by normalised cross-correlation, and that correlation.
func bestLag(x, y []float64, maxLag int) (int, float64) {
	best, bestC := 0, math.Inf(-1)
	for lag := 0; lag <= maxLag; lag++ {
		n := min(len(x), len(y)-lag)
		if n <= 0 {
			break
		}
		if c := correlation(x[:n], y[lag:lag+n]); c > bestC {
			best, bestC = lag, c
		}
	}
	return best, bestC
}

// correlation returns the Pearson correlation of equal-length a and b.
func correlation(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb+1e-20)
}

// toFloat converts samples to float64.
func toFloat(x []int16) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// energyEnvelopeDB returns the energy of consecutive blocks of block
// samples, in dB.
func energyEnvelopeDB(x []int16, block int) []float64 {
	out := make([]float64, 0, len(x)/block)
	for i := 0; i+block <= len(x); i += block {
		out = append(out, rmsDB(x[i:i+block]))
	}
	return out
}

func TestSignalHelpers(t *testing.T) {
	tests := []struct {
		name string
		freq float64
		amp  float64
	}{
		{"440 Hz", 440, 0.5},
		{"1 kHz", 1000, 0.25},
		{"3.3 kHz", 3300, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := toneAt(tc.freq, 48000, 24000, tc.amp)
			if f := dominantFrequency(x, 48000, 100, 4000); math.Abs(f-tc.freq) > 1 {
				t.Errorf("dominant frequency %.2f Hz, want %.0f", f, tc.freq)
			}
			want := 20 * math.Log10(tc.amp/math.Sqrt2)
			if l := rmsDB(x); math.Abs(l-want) > 0.1 {
				t.Errorf("level %.2f dBFS, want %.2f", l, want)
			}
			if r := toneToRestDB(x, 48000, tc.freq); r < 40 {
				t.Errorf("pure tone only %.1f dB above the rest", r)
			}
		})
	}
}

// strongestOtherDB scans lo-hi Hz in 10 Hz steps, skipping +-10% around
// freq, and returns how far (dB) the strongest other component lies below
// the power at freq: how clearly freq is the only thing heard.
func strongestOtherDB(x []int16, rate int, freq, lo, hi float64) float64 {
	peak := goertzelPower(x, rate, freq)
	var other float64
	for f := lo; f <= hi; f += 10 {
		if math.Abs(f-freq) <= 0.1*freq {
			continue
		}
		other = max(other, goertzelPower(x, rate, f))
	}
	return 10 * math.Log10(peak/(other+1e-9))
}
