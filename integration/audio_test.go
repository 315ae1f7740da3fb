package integration

import (
	"math"
	"sync"
	"testing"
	"time"
)

// Tone frequencies of the two parties, in Hz: each side sends its own and
// expects to hear only the other's.
const (
	browserToneHz = 440
	trunkToneHz   = 1000
	toneAmplitude = 8000 // peak, of int16 full scale 32767
)

// toneGen produces a phase-continuous sine tone at a fixed sample rate, one
// frame at a time, so that consecutive 20 ms frames join without clicks.
type toneGen struct {
	step  float64 // phase increment per sample, radians
	phase float64
	amp   float64
}

// newToneGen returns a generator of freq Hz at rate samples per second.
func newToneGen(freq, rate int) *toneGen {
	return &toneGen{step: 2 * math.Pi * float64(freq) / float64(rate), amp: toneAmplitude}
}

// fill writes the next len(dst) samples of the tone into dst.
func (g *toneGen) fill(dst []int16) {
	for i := range dst {
		dst[i] = int16(g.amp * math.Sin(g.phase))
		g.phase += g.step
		if g.phase > 2*math.Pi {
			g.phase -= 2 * math.Pi
		}
	}
}

// recording is the decoded audio one party heard, as 16-bit mono samples at
// rate Hz, appended by a receive goroutine and analysed by the test.
type recording struct {
	rate int

	mu      sync.Mutex
	samples []int16
}

// newRecording returns an empty recording at rate samples per second.
func newRecording(rate int) *recording {
	return &recording{rate: rate}
}

// add appends pcm.
func (r *recording) add(pcm []int16) {
	r.mu.Lock()
	r.samples = append(r.samples, pcm...)
	r.mu.Unlock()
}

// len returns the number of samples recorded so far.
func (r *recording) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()

	return len(r.samples)
}

// since returns a copy of the samples recorded from index from on.
func (r *recording) since(from int) []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from > len(r.samples) {
		from = len(r.samples)
	}

	return append([]int16(nil), r.samples[from:]...)
}

// goertzel returns the power of freq Hz in pcm (sampled at rate Hz) as a
// fraction of the signal's total power: near 1 for a pure tone at freq, near
// 0 for silence or another tone. It runs the Goertzel algorithm over a Hann
// window, so leakage from a tone several bins away stays small.
func goertzel(pcm []int16, rate int, freq float64) float64 {
	n := len(pcm)
	if n < 2 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, energy, sumW, sumW2 float64
	for i, v := range pcm {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		x := float64(v) * w
		energy += x * x
		sumW += w
		sumW2 += w * w
		s := x + coeff*s1 - s2
		s2, s1 = s1, s
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	// A windowed sinusoid of amplitude A has Goertzel power (A·Σw/2)² and
	// energy A²/2·Σw²: scale so that a pure tone at freq gives 1.
	return power / energy * 2 * sumW2 / (sumW * sumW)
}

// rms returns the root mean square of pcm, in int16 units.
func rms(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}

	return math.Sqrt(sum / float64(len(pcm)))
}

// toneReport describes a stretch of audio for failure messages.
type toneReport struct {
	samples      int
	rms          float64
	want, unwant float64
}

// analyse measures the share of power at want and unwant Hz in pcm.
func analyse(pcm []int16, rate int, want, unwant float64) toneReport {
	return toneReport{samples: len(pcm), rms: rms(pcm), want: goertzel(pcm, rate, want), unwant: goertzel(pcm, rate, unwant)}
}

// Thresholds of a heard tone: audible (not silence), dominated by the
// expected frequency, and without the listener's own tone coming back.
const (
	minToneRMS      = 500
	minToneShare    = 0.6
	maxEchoShare    = 0.05
	analysisWindow  = 400 * time.Millisecond
	toneWaitTimeout = 10 * time.Second
)

// waitTone waits until the last analysisWindow of rec, recorded after
// index from, carries want Hz (and not unwant Hz), or fails the test after
// toneWaitTimeout with what was heard instead. It returns the report of the
// window that passed. who names the listener in messages.
func waitTone(t *testing.T, who string, rec *recording, from int, want, unwant float64) toneReport {
	t.Helper()
	window := int(analysisWindow.Seconds() * float64(rec.rate))
	deadline := time.Now().Add(toneWaitTimeout)
	var last toneReport
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pcm := rec.since(from)
		if len(pcm) >= window {
			last = analyse(pcm[len(pcm)-window:], rec.rate, want, unwant)
			if last.rms >= minToneRMS && last.want >= minToneShare && last.unwant <= maxEchoShare {
				return last
			}
		} else {
			last = toneReport{samples: len(pcm)}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not hear %v Hz within %v: heard %d samples since start, last window rms %.0f, share at %v Hz %.2f, at %v Hz (own tone) %.2f",
				who, want, toneWaitTimeout, last.samples, last.rms, want, last.want, unwant, last.unwant)
		}
		<-tick.C
	}
}
