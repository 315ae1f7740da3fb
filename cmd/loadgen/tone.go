package main

import (
	"math"
	"sync/atomic"
)

// Tone plan: call i sends a sine of toneFreq(i) Hz at toneAmplitude; all
// frequencies lie inside the telephone band (300 to 3400 Hz) that G.711
// carries, toneStep apart, which blocks of toneBlock samples at 8 kHz
// (200 ms, 5 Hz resolution) tell apart.
const (
	toneBase      = 400
	toneStep      = 20
	toneCount     = 140 // 400 Hz to 3180 Hz
	toneAmplitude = 0.3 * math.MaxInt16
	detectRate    = 8000 // sample rate of the decoded audio the detector sees, in Hz
	toneBlock     = detectRate / 5
	// toneShare is the share of a block's energy that must lie at the
	// call's own frequency for the block to count as carrying the tone.
	toneShare = 0.5
	// tonePresent is the share of a call's blocks during the steady state
	// that must carry its tone for the call to pass.
	tonePresent = 0.9
)

// toneFreq returns the tone frequency of call i in Hz.
func toneFreq(i int) int { return toneBase + toneStep*(i%toneCount) }

// goertzelShare returns the share (0 to 1) of the energy of pcm (sampled at
// rate Hz) that lies at freq Hz, by the Goertzel algorithm: a sine of
// exactly freq gives about 1, silence, noise or another tone well outside
// the block's resolution (rate/len(pcm) Hz) about 0.
func goertzelShare(pcm []int16, rate, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / rate
	coeff := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, v := range pcm {
		x := float64(v)
		energy += x * x
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	// A sine of amplitude A over N samples has power (A·N/2)² and energy
	// A²·N/2, so 2·power/(N·energy) is 1 for a pure tone.
	return min(1, 2*power/(float64(len(pcm))*energy))
}

// toneDetector cuts the decoded audio of one call into blocks of toneBlock
// samples and counts, while counting is on, the blocks and those whose
// energy lies mostly at the call's frequency. It belongs to the receiving
// goroutine; the counters are atomics for the measurement to read.
type toneDetector struct {
	freq     float64
	block    [toneBlock]int16
	n        int
	counting *atomic.Bool
	blocks   atomic.Uint64
	withTone atomic.Uint64
}

// add appends decoded samples (at detectRate) and evaluates every block
// they complete.
func (d *toneDetector) add(pcm []int16) {
	for len(pcm) > 0 {
		k := copy(d.block[d.n:], pcm)
		d.n += k
		pcm = pcm[k:]
		if d.n < len(d.block) {
			return
		}
		d.n = 0
		if d.counting != nil && !d.counting.Load() {
			continue
		}
		d.blocks.Add(1)
		if goertzelShare(d.block[:], detectRate, d.freq) >= toneShare {
			d.withTone.Add(1)
		}
	}
}

// sine fills pcm with a sine of freq Hz at rate Hz and amplitude amp,
// starting at sample index first (so that consecutive calls continue the
// phase).
func sine(pcm []int16, freq, rate float64, amp float64, first int) {
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(first+i)/rate))
	}
}
