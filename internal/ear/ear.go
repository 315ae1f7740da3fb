// Package ear records what one side of a test call hears, packet after
// packet, and lets the test wait for it: decoded audio as 16-bit mono PCM
// at one sample rate, the DTMF digits decoded from RFC 4733 events, when
// the last audio packet arrived and when the receiver stopped. Every
// packet wakes the waits, so that media is measured over the packets
// received rather than over the wall clock: a test on a busy machine waits
// longer for the same audio instead of judging less of it. It is imported
// only by tests.
package ear

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"
)

// WaitTimeout bounds every wait: long enough for a busy machine, short
// enough to fail a stuck test.
const WaitTimeout = 15 * time.Second

// FrameMs is the packet duration of every stream the tests send and
// receive, in milliseconds.
const FrameMs = 20

// Record is the audio and digits one receiver heard. Its methods are safe
// for concurrent use: the receiver appends, the test waits and reads.
type Record struct {
	rate int // samples per second

	mu      sync.Mutex
	pcm     []int16
	digits  []rune
	last    time.Time     // arrival of the last audio packet
	maxGap  time.Duration // longest time between two audio packets since MarkGap
	ended   time.Time     // when the receiver stopped
	lastEv  uint32        // RTP timestamp of the last event whose end was recorded
	anyEv   bool
	changed chan struct{} // closed and replaced at each change
}

// New returns an empty record of audio at rateHz samples per second.
func New(rateHz int) *Record { return &Record{rate: rateHz, changed: make(chan struct{})} }

// Rate is the record's sample rate in Hz.
func (r *Record) Rate() int { return r.rate }

// Frame is one 20 ms packet of the record's audio, in samples.
func (r *Record) Frame() int { return r.rate * FrameMs / 1000 }

// Hear appends the decoded audio of one packet.
func (r *Record) Hear(pcm []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pcm = append(r.pcm, pcm...)
	now := time.Now()
	if !r.last.IsZero() {
		r.maxGap = max(r.maxGap, now.Sub(r.last))
	}
	r.last = now
	r.wakeLocked()
}

// MarkGap starts measuring the longest gap between audio packets anew.
func (r *Record) MarkGap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxGap = 0
}

// LongestGap is the longest time between the arrivals of two consecutive
// audio packets since MarkGap (or since the first packet).
func (r *Record) LongestGap() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()

	return r.maxGap
}

// HearDigit records one DTMF digit, as a receiver learns it from
// signaling.
func (r *Record) HearDigit(d rune) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digits = append(r.digits, d)
	r.wakeLocked()
}

// HearEvent records the digit of an RFC 4733 telephone-event payload from
// a packet stamped ts, once per event: at its first end packet (section
// 2.5.1.4 repeats the end three times; all share the event's timestamp).
// Other packets of the event, and payloads that are not events, are
// ignored.
func (r *Record) HearEvent(ts uint32, payload []byte) {
	var ev transcode.Event
	if ev.Unmarshal(payload) != nil || !ev.End {
		return
	}
	d, ok := transcode.DigitForEvent(ev.Code)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok || (r.anyEv && r.lastEv == ts) {
		return
	}
	r.anyEv, r.lastEv = true, ts
	r.digits = append(r.digits, d)
	r.wakeLocked()
}

// End records that the receiver stopped.
func (r *Record) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended.IsZero() {
		r.ended = time.Now()
	}
	r.wakeLocked()
}

func (r *Record) wakeLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Len is the number of samples heard so far.
func (r *Record) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()

	return len(r.pcm)
}

// Audio returns a copy of the audio heard so far.
func (r *Record) Audio() []int16 { return r.Since(0) }

// Since returns a copy of the audio heard from sample from on.
func (r *Record) Since(from int) []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()

	return slices.Clone(r.pcm[min(from, len(r.pcm)):])
}

// Digits returns the digits heard so far.
func (r *Record) Digits() string {
	r.mu.Lock()
	defer r.mu.Unlock()

	return string(r.digits)
}

// Times returns when the last audio packet arrived and when the receiver
// stopped (zero while it runs).
func (r *Record) Times() (last, ended time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()

	return r.last, r.ended
}

// Wait waits until done holds for the audio and digits heard so far,
// checking again at each change, and returns that audio; it fails tb after
// WaitTimeout, naming what it waited for.
func (r *Record) Wait(tb testing.TB, what string, done func(pcm []int16, digits string) bool) []int16 {
	tb.Helper()
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		pcm, digits, changed := slices.Clone(r.pcm), string(r.digits), r.changed
		r.mu.Unlock()
		if done(pcm, digits) {
			return pcm
		}
		select {
		case <-changed:
		case <-timeout.C:
			tb.Fatalf("heard %d samples and digits %q, waiting for %s", len(pcm), digits, what)

			return nil
		}
	}
}

// WaitSamples waits until at least n samples were heard and returns all
// of them.
func (r *Record) WaitSamples(tb testing.TB, n int) []int16 {
	tb.Helper()

	return r.Wait(tb, "audio", func(pcm []int16, _ string) bool { return len(pcm) >= n })
}

// WaitDigits waits until the digits heard are want; it fails tb at once
// when they stop being a beginning of want.
func (r *Record) WaitDigits(tb testing.TB, want string) {
	tb.Helper()
	r.Wait(tb, "digits "+want, func(_ []int16, digits string) bool {
		if len(digits) > len(want) || want[:len(digits)] != digits {
			tb.Fatalf("heard digits %q, want %q", digits, want)
		}

		return digits == want
	})
}

// WaitEnd waits until the receiver stopped and returns when the last
// audio packet arrived and when it stopped.
func (r *Record) WaitEnd(tb testing.TB) (last, ended time.Time) {
	tb.Helper()
	r.Wait(tb, "the end of the media", func([]int16, string) bool {
		_, ended := r.Times()

		return !ended.IsZero()
	})

	return r.Times()
}

// WaitChange waits, in the audio heard after sample from, for the first
// frame that changed says has begun, then for window samples from there
// on, and returns those: a change of what a side hears is measured over
// the packets it received, however late they come.
func (r *Record) WaitChange(tb testing.TB, what string, from, window int, changed func(frame []int16) bool) []int16 {
	tb.Helper()
	frame, start := r.Frame(), -1
	pcm := r.Wait(tb, what, func(pcm []int16, _ string) bool {
		for start < 0 && from+frame <= len(pcm) {
			if changed(pcm[from : from+frame]) {
				start = from
			}
			from += frame
		}

		return start >= 0 && len(pcm) >= start+window
	})

	return pcm[start : start+window]
}

// Silent reports whether every sample of pcm is within ±100: G.711
// silence after decoding.
func Silent(pcm []int16) bool {
	for _, x := range pcm {
		if x > 100 || x < -100 {
			return false
		}
	}

	return true
}

// Thresholds of WaitTone: a heard tone is audible (not silence), dominated
// by the expected frequency, and without the listener's own tone coming
// back.
const (
	MinToneRMS     = 500
	MinToneShare   = 0.6
	MaxEchoShare   = 0.05
	AnalysisWindow = 400 * time.Millisecond
)

// ToneReport describes a stretch of audio: its length in samples, its RMS
// level in int16 units, and the share of its power at the wanted and the
// unwanted frequency (0 to 1, Hann window).
type ToneReport struct {
	Samples      int
	RMS          float64
	Want, Unwant float64
}

// Analyse measures pcm, sampled at rateHz, at want and unwant Hz.
func Analyse(pcm []int16, rateHz int, want, unwant float64) ToneReport {
	return ToneReport{
		Samples: len(pcm), RMS: testaudio.RMS(pcm),
		Want: testaudio.Share(pcm, rateHz, want, testaudio.Hann), Unwant: testaudio.Share(pcm, rateHz, unwant, testaudio.Hann),
	}
}

// WaitTone waits until the last AnalysisWindow of the audio heard after
// sample from carries want Hz (and not unwant Hz), checking again at each
// packet, and returns the report of the window that passed; after
// WaitTimeout it fails tb with what was heard instead. who names the
// listener in the failure.
func (r *Record) WaitTone(tb testing.TB, who string, from int, want, unwant float64) ToneReport {
	tb.Helper()
	window := int(AnalysisWindow.Seconds() * float64(r.rate))
	var last ToneReport
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		heard, changed := r.pcm[min(from, len(r.pcm)):], r.changed
		if len(heard) >= window {
			last = Analyse(heard[len(heard)-window:], r.rate, want, unwant)
		} else {
			last = ToneReport{Samples: len(heard)}
		}
		r.mu.Unlock()
		if last.Samples >= window && last.RMS >= MinToneRMS && last.Want >= MinToneShare && last.Unwant <= MaxEchoShare {
			return last
		}
		select {
		case <-changed:
		case <-timeout.C:
			tb.Fatalf("%s did not hear %v Hz within %v: heard %d samples since the mark, last window rms %.0f, share at %v Hz %.2f, at %v Hz (own tone) %.2f",
				who, want, WaitTimeout, r.Len()-from, last.RMS, want, last.Want, unwant, last.Unwant)

			return last
		}
	}
}
