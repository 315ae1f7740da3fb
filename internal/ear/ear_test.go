package ear

import (
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"
)

// event is the payload of an RFC 4733 event for digit d.
func event(t *testing.T, d rune, end bool) []byte {
	t.Helper()
	code, ok := transcode.EventForDigit(d)
	if !ok {
		t.Fatalf("no event for %q", d)
	}
	buf := make([]byte, transcode.EventPayloadSize)
	if _, err := (transcode.Event{Code: code, End: end, Duration: 800}).MarshalTo(buf); err != nil {
		t.Fatal(err)
	}

	return buf
}

// TestHearEvent: a digit counts once per event, at its first end packet,
// however often the end is repeated; an event starting at another
// timestamp is another key press.
func TestHearEvent(t *testing.T) {
	r := New(8000)
	packets := []struct {
		ts    uint32
		digit rune
		end   bool
	}{
		{100, '5', false}, {100, '5', false}, {100, '5', true}, {100, '5', true}, {100, '5', true},
		{900, '5', false}, {900, '5', true}, {900, '5', true},
		{1700, '#', true},
	}
	for _, p := range packets {
		r.HearEvent(p.ts, event(t, p.digit, p.end))
	}
	r.HearEvent(2500, []byte{1, 2}) // not an event
	if got := r.Digits(); got != "55#" {
		t.Fatalf("digits %q, want 55#", got)
	}
	r.WaitDigits(t, "55#")
}

// TestWaitChange: the window starts at the first frame that changed,
// after the mark.
func TestWaitChange(t *testing.T) {
	r := New(8000)
	tone := testaudio.Sine(1000, 8000, 800, 0.5)
	r.Hear(tone)
	r.Hear(make([]int16, 480))
	r.Hear(tone)
	got := r.WaitChange(t, "silence", 0, 320, Silent)
	if len(got) != 320 || !Silent(got) {
		t.Fatalf("window of %d samples, silent %v; want 320 silent ones", len(got), Silent(got))
	}
	got = r.WaitChange(t, "the tone again", 800+480, 800, func(f []int16) bool { return !Silent(f) })
	if rep := Analyse(got, 8000, 1000, 440); rep.Want < 0.9 {
		t.Fatalf("window after the silence: %+v, want the tone", rep)
	}
	r.End()
	if last, ended := r.WaitEnd(t); last.IsZero() || ended.Before(last) {
		t.Fatalf("last packet %v, end %v", last, ended)
	}
}
