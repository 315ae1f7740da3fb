package transcode

import (
	"errors"
	"testing"
)

// generated is one frame slot a DTMFGenerator filled with an event packet.
type generated struct {
	ts     uint32 // the frame's timestamp
	start  uint32
	marker bool
	ev     Event
}

// runGenerator steps g over frames 20 ms frames from timestamp 0 and
// returns the event packets it put in their place.
func runGenerator(g *DTMFGenerator, frames int) []generated {
	var out []generated
	for i := range frames {
		ts := uint32(160 * i)
		var ev Event
		if start, marker, ok := g.Step(ts, 160, &ev); ok {
			out = append(out, generated{ts: ts, start: start, marker: marker, ev: ev})
		}
	}

	return out
}

// TestDTMFGeneratorTiming: each digit is DTMFToneFrames updates starting
// with a marked packet, then DTMFEndPackets end packets, all with the
// event's start timestamp and the duration so far (RFC 4733 sections
// 2.5.1.1 to 2.5.1.4); the next digit starts DTMFGapFrames frames of
// audio later.
func TestDTMFGeneratorTiming(t *testing.T) {
	g := NewDTMFGenerator()
	if got := runGenerator(g, 10); len(got) != 0 {
		t.Fatalf("an idle generator took %d frames", len(got))
	}
	if err := g.Enqueue("1#"); err != nil {
		t.Fatal(err)
	}
	got := runGenerator(g, 40)
	per := DTMFToneFrames + DTMFEndPackets
	if len(got) != 2*per {
		t.Fatalf("%d event packets, want %d", len(got), 2*per)
	}
	for d, code := range []uint8{1, 11} {
		digit := got[d*per : (d+1)*per]
		for i, p := range digit {
			if p.ev.Code != code || p.start != digit[0].ts || p.ev.Volume != DTMFVolume {
				t.Errorf("digit %d packet %d: code %d start %d volume %d, want %d %d %d", d, i, p.ev.Code, p.start, p.ev.Volume, code, digit[0].ts, DTMFVolume)
			}
			if p.marker != (i == 0) {
				t.Errorf("digit %d packet %d: marker %v", d, i, p.marker)
			}
			if wantEnd := i >= DTMFToneFrames; p.ev.End != wantEnd {
				t.Errorf("digit %d packet %d: end %v, want %v", d, i, p.ev.End, wantEnd)
			}
			if want := uint16(160 * min(i+1, DTMFToneFrames)); p.ev.Duration != want {
				t.Errorf("digit %d packet %d: duration %d, want %d", d, i, p.ev.Duration, want)
			}
			if i > 0 && p.ts != digit[i-1].ts+160 {
				t.Errorf("digit %d packet %d: frame %d after %d, want consecutive frames", d, i, p.ts, digit[i-1].ts)
			}
		}
	}
	if gap := got[per].start - got[0].start; gap != 160*uint32(per+DTMFGapFrames) {
		t.Errorf("second digit starts %d samples after the first, want %d", gap, 160*(per+DTMFGapFrames))
	}
}

func TestDTMFGeneratorRejects(t *testing.T) {
	g := NewDTMFGenerator()
	if err := g.Enqueue("12x"); !errors.Is(err, ErrDTMFDigit) {
		t.Errorf("Enqueue(12x) = %v, want ErrDTMFDigit", err)
	}
	if g.pending.Load() {
		t.Error("an invalid request queued digits")
	}
	for range DTMFQueueSize / 32 {
		if err := g.Enqueue("12345678901234567890123456789012"); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Enqueue("1"); !errors.Is(err, ErrDTMFQueueFull) {
		t.Errorf("Enqueue on a full queue = %v, want ErrDTMFQueueFull", err)
	}
}

func TestDTMFGeneratorStepDoesNotAllocate(t *testing.T) {
	g := NewDTMFGenerator()
	if err := g.Enqueue("123456789*#0ABCD123456789*#0ABCD"); err != nil {
		t.Fatal(err)
	}
	var ev Event
	ts := uint32(0)
	if allocs := testing.AllocsPerRun(300, func() {
		g.Step(ts, 160, &ev)
		ts += 160
	}); allocs != 0 {
		t.Errorf("Step allocates %v times per frame", allocs)
	}
}
