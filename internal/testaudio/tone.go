// Package testaudio generates and measures the audio signals the tests of
// the gateway send and listen for: sine tones as 16-bit PCM, the Goertzel
// power of one frequency, the share of a signal's power at that frequency,
// and RMS levels in int16 units and dBFS. The tests and the load
// generator (cmd/loadgen) send and detect their tones with it, so that a
// load run hears a call's tone exactly as a test does.
//
// Amplitudes are fractions of full scale (FullScale, 0 to 1); sample rates
// are in Hz (samples per second); frequencies in Hz.
package testaudio

import "math"

// FullScale is the peak of a full-scale 16-bit sample: a sine of amplitude
// 1 swings between -FullScale and +FullScale, and its RMS level is
// -3.01 dBFS.
const FullScale = 32767

// Tone generates a sine tone as 16-bit PCM, frame after frame, so that
// consecutive frames join without a phase jump. The zero value is silent;
// use NewTone.
type Tone struct {
	freq float64 // Hz
	rate float64 // samples per second
	amp  float64 // peak, in int16 units
	n    int     // index of the next sample
}

// NewTone returns a generator of a sine at freqHz sampled at rateHz
// samples per second, with peak amplitude amp as a fraction of full scale
// (0 to 1). Its first sample has phase 0.
func NewTone(freqHz float64, rateHz int, amp float64) *Tone {
	return &Tone{freq: freqHz, rate: float64(rateHz), amp: amp * FullScale}
}

// Fill writes the next len(dst) samples of the tone into dst. Each sample
// is computed from its index, so phase error does not build up over long
// runs.
func (t *Tone) Fill(dst []int16) {
	for i := range dst {
		x := math.Sin(2 * math.Pi * t.freq * float64(t.n) / t.rate)
		dst[i] = int16(math.Round(t.amp * x))
		t.n++
	}
}

// Sine returns n samples of a sine at freqHz sampled at rateHz, with peak
// amplitude amp as a fraction of full scale (0 to 1), starting at phase 0.
func Sine(freqHz float64, rateHz, n int, amp float64) []int16 {
	out := make([]int16, n)
	NewTone(freqHz, rateHz, amp).Fill(out)
	return out
}
