package main

import (
	"sync/atomic"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// Tone plan: call i sends a sine of toneFreq(i) Hz at toneAmplitude; all
// frequencies lie inside the telephone band (300 to 3400 Hz) that G.711
// carries, toneStep apart, which blocks of toneBlock samples at 8 kHz
// (200 ms, 5 Hz resolution) tell apart. Tones are generated and detected
// (Goertzel, without a window) by internal/testaudio, as in the tests.
const (
	toneBase      = 400
	toneStep      = 20
	toneCount     = 140  // 400 Hz to 3180 Hz
	toneAmplitude = 0.3  // peak, as a fraction of full scale
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
		if testaudio.Share(d.block[:], detectRate, d.freq, testaudio.Rectangular) >= toneShare {
			d.withTone.Add(1)
		}
	}
}
