package integration

import (
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// Tone frequencies of the two parties, in Hz: each side sends its own and
// expects to hear only the other's.
const (
	browserToneHz = 440
	trunkToneHz   = 1000
	toneAmp       = 8000.0 / testaudio.FullScale // peak, fraction of full scale
)

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

// toneReport describes a stretch of audio for failure messages.
type toneReport struct {
	samples      int
	rms          float64
	want, unwant float64
}

// analyse measures the share of power at want and unwant Hz in pcm.
func analyse(pcm []int16, rate int, want, unwant float64) toneReport {
	return toneReport{samples: len(pcm), rms: testaudio.RMS(pcm), want: testaudio.Share(pcm, rate, want, testaudio.Hann), unwant: testaudio.Share(pcm, rate, unwant, testaudio.Hann)}
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
