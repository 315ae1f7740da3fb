package testaudio

import "math"

// Window is the weighting applied to a block of samples before Goertzel
// analysis.
type Window int

const (
	// Rectangular weighs every sample 1: the narrowest main lobe, but a
	// tone between bins leaks far into the rest of the spectrum.
	Rectangular Window = iota
	// Hann weighs sample i of n by 0.5-0.5*cos(2*pi*i/(n-1)): leakage
	// from a tone a few bins away stays small.
	Hann
)

// goertzel runs the Goertzel algorithm for freqHz over pcm (sampled at
// rateHz) weighted by w. It returns the squared magnitude of that DFT term
// (int16 units squared), the energy of the weighted signal, and the sum
// and the sum of squares of the weights.
func goertzel(pcm []int16, rateHz int, freqHz float64, w Window) (power, energy, sumW, sumW2 float64) {
	n := len(pcm)
	coeff := 2 * math.Cos(2*math.Pi*freqHz/float64(rateHz))
	var s1, s2 float64
	for i, v := range pcm {
		x, wt := float64(v), 1.0
		if w == Hann {
			wt = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
			x *= wt
		}
		energy += x * x
		sumW += wt
		sumW2 += wt * wt
		s := x + coeff*s1 - s2
		s2, s1 = s1, s
	}
	power = s1*s1 + s2*s2 - coeff*s1*s2
	return power, energy, sumW, sumW2
}

// Power returns the Goertzel power of pcm (sampled at rateHz) at freqHz
// after weighting by w: the squared magnitude of that DFT term, in int16
// units squared, unnormalised. A full-length sine of peak A at freqHz gives
// about (A*sumW/2)^2, sumW being n for Rectangular and about n/2 for Hann.
// It returns 0 for fewer than 2 samples.
func Power(pcm []int16, rateHz int, freqHz float64, w Window) float64 {
	if len(pcm) < 2 {
		return 0
	}
	p, _, _, _ := goertzel(pcm, rateHz, freqHz, w)
	return p
}

// Share returns the fraction of pcm's power (sampled at rateHz, weighted by
// w) that lies at freqHz: near 1 for a pure tone at freqHz, near 0 for
// silence or a tone at another frequency. It returns 0 for fewer than 2
// samples or for digital silence.
func Share(pcm []int16, rateHz int, freqHz float64, w Window) float64 {
	if len(pcm) < 2 {
		return 0
	}
	p, energy, sumW, sumW2 := goertzel(pcm, rateHz, freqHz, w)
	if energy == 0 {
		return 0
	}
	// A weighted sine of peak A has Goertzel power (A*sumW/2)^2 and energy
	// A^2/2*sumW2: scale so that a pure tone at freqHz gives 1.
	return p / energy * 2 * sumW2 / (sumW * sumW)
}

// RMS returns the root mean square of pcm in int16 units, 0 for no samples.
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// LevelDBFS returns the RMS level of pcm in dB relative to FullScale
// (dBFS): -3.01 for a full-scale sine, about -200 for digital silence or no
// samples.
func LevelDBFS(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(max(len(pcm), 1))/(FullScale*FullScale)+1e-20)
}

// ToneLevelDBFS returns the RMS level in dBFS of a sine with peak amplitude
// amp as a fraction of full scale: 20*log10(amp/sqrt(2)).
func ToneLevelDBFS(amp float64) float64 {
	return 20 * math.Log10(amp/math.Sqrt2)
}
