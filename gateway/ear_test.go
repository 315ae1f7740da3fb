package gateway

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for media in the gateway's tests: long
// enough for a busy machine, short enough to fail a stuck test.
const waitTimeout = 15 * time.Second

// frameSamples is one 20 ms packet of 8 kHz audio, in samples.
const frameSamples = 160

// ear is what one side of a test call hears: its 8 kHz audio packet after
// packet, the DTMF digits it decoded, when the last audio packet arrived
// and when its receiver stopped. Every packet wakes the test's waits, so
// that media is measured over the packets received rather than over the
// wall clock.
type ear struct {
	mu      sync.Mutex
	pcm     []int16
	digits  []rune
	last    time.Time // arrival of the last audio packet
	ended   time.Time // when the receiver stopped
	changed chan struct{}
}

func newEar() *ear { return &ear{changed: make(chan struct{})} }

// hear appends the audio of one packet.
func (e *ear) hear(pcm []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pcm = append(e.pcm, pcm...)
	e.last = time.Now()
	e.wakeLocked()
}

// hearDigit records one DTMF digit.
func (e *ear) hearDigit(r rune) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.digits = append(e.digits, r)
	e.wakeLocked()
}

// end records that the receiver stopped.
func (e *ear) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ended = time.Now()
	e.wakeLocked()
}

func (e *ear) wakeLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// heard returns a copy of the audio heard so far.
func (e *ear) heard() []int16 {
	e.mu.Lock()
	defer e.mu.Unlock()

	return slices.Clone(e.pcm)
}

// times returns when the last audio packet arrived and when the receiver
// stopped (zero while it runs).
func (e *ear) times() (last, ended time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()

	return e.last, e.ended
}

// wait waits until done holds for the audio and digits heard so far and
// returns that audio; what names the wait in the failure.
func (e *ear) wait(t *testing.T, what string, done func(pcm []int16, digits string) bool) []int16 {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		e.mu.Lock()
		pcm, digits, changed := slices.Clone(e.pcm), string(e.digits), e.changed
		e.mu.Unlock()
		if done(pcm, digits) {
			return pcm
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("heard %d samples and digits %q, waiting for %s", len(pcm), digits, what)

			return nil
		}
	}
}

// waitEnd waits until the receiver stopped and returns when the last
// audio packet arrived and when it stopped.
func (e *ear) waitEnd(t *testing.T) (last, ended time.Time) {
	t.Helper()
	e.wait(t, "the end of the call's media", func([]int16, string) bool {
		_, ended := e.times()

		return !ended.IsZero()
	})

	return e.times()
}

// waitAudio waits until at least samples of audio were heard and returns
// all of it.
func waitAudio(t *testing.T, e *ear, samples int) []int16 {
	t.Helper()

	return e.wait(t, "audio", func(pcm []int16, _ string) bool { return len(pcm) >= samples })
}

// waitDigits waits until the digits heard are want.
func waitDigits(t *testing.T, e *ear, want string) {
	t.Helper()
	e.wait(t, "digits "+want, func(_ []int16, digits string) bool { return digits == want })
}

// waitChange waits, in the audio heard after sample from, for the first
// packet that changed says has begun, then for window samples from there
// on, and returns those. A change of what a side hears is thereby measured
// over the packets it received, however late they come.
func waitChange(t *testing.T, e *ear, what string, from, window int, changed func(frame []int16) bool) []int16 {
	t.Helper()
	start := -1
	pcm := e.wait(t, what, func(pcm []int16, _ string) bool {
		for start < 0 && from+frameSamples <= len(pcm) {
			if changed(pcm[from : from+frameSamples]) {
				start = from
			}
			from += frameSamples
		}

		return start >= 0 && len(pcm) >= start+window
	})

	return pcm[start : start+window]
}

// silent reports whether every sample of pcm is within ±100, G.711
// silence after decoding.
func silent(pcm []int16) bool {
	for _, x := range pcm {
		if x > 100 || x < -100 {
			return false
		}
	}

	return true
}
