package main

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// TestToneShare: the tests' tone detector (internal/testaudio, Goertzel
// without a window) tells the calls' tones apart in a block of toneBlock
// samples, and finds none in noise or silence.
func TestToneShare(t *testing.T) {
	block := func(fill func([]int16)) []int16 {
		pcm := make([]int16, toneBlock)
		fill(pcm)

		return pcm
	}
	tone := func(freq float64) []int16 { return testaudio.Sine(freq, detectRate, toneBlock, toneAmplitude) }
	noise := block(func(p []int16) {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range p {
			p[i] = int16(r.IntN(20000) - 10000)
		}
	})
	mixed := block(func(p []int16) {
		a, b := tone(1000), tone(2000)
		for i := range p {
			p[i] = a[i]/2 + b[i]/2
		}
	})
	tests := []struct {
		name     string
		pcm      []int16
		freq     float64
		min, max float64
	}{
		{"own tone", tone(1000), 1000, 0.95, 1},
		{"lowest tone", tone(toneBase), toneBase, 0.95, 1},
		{"highest tone", tone(toneBase + toneStep*(toneCount-1)), toneBase + toneStep*(toneCount-1), 0.95, 1},
		{"neighbour call's tone", tone(1000 + toneStep), 1000, 0, 0.05},
		{"other tone", tone(1500), 1000, 0, 0.01},
		{"half of a mix", mixed, 1000, 0.4, 0.6},
		{"noise", noise, 1000, 0, 0.05},
		{"silence", make([]int16, toneBlock), 1000, 0, 0},
		{"empty", nil, 1000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testaudio.Share(tt.pcm, detectRate, tt.freq, testaudio.Rectangular)
			if got < tt.min || got > tt.max {
				t.Errorf("share at %v Hz = %.3f, want %.2f..%.2f", tt.freq, got, tt.min, tt.max)
			}
		})
	}
}

func TestToneFreqDistinct(t *testing.T) {
	seen := map[int]int{}
	for i := range toneCount {
		f := toneFreq(i)
		if f < 300 || f > 3400 {
			t.Errorf("call %d: %d Hz is outside the telephone band", i, f)
		}
		if j, ok := seen[f]; ok {
			t.Errorf("calls %d and %d share %d Hz", j, i, f)
		}
		seen[f] = i
	}
}

func TestToneDetector(t *testing.T) {
	var counting atomic.Bool
	d := toneDetector{freq: 700, counting: &counting}
	frame := make([]int16, 160)
	feed := func(tone *testaudio.Tone, frames int) {
		for range frames {
			tone.Fill(frame)
			d.add(frame)
		}
	}
	own := testaudio.NewTone(700, detectRate, toneAmplitude)
	feed(own, 50) // not counting yet
	if d.blocks.Load() != 0 {
		t.Fatalf("counted %d blocks while counting was off", d.blocks.Load())
	}
	counting.Store(true)
	feed(own, 50)                                                // 1 s: 5 blocks with the tone
	feed(testaudio.NewTone(1300, detectRate, toneAmplitude), 50) // 1 s of another call's tone
	if b, w := d.blocks.Load(), d.withTone.Load(); b != 10 || w != 5 {
		t.Errorf("blocks %d with tone %d, want 10 and 5", b, w)
	}
}

// TestAudioSourceRoundTrip: what a call sends, decoded as the receiving
// side decodes it, carries the call's tone in every block, also across
// the loop of frames.
func TestAudioSourceRoundTrip(t *testing.T) {
	for _, codec := range []string{codecOpus, codecPCMU} {
		t.Run(codec, func(t *testing.T) {
			src, err := newAudioSource(codec, toneFreq(17))
			if err != nil {
				t.Fatal(err)
			}
			if len(src.frames) != framesPerLoop {
				t.Fatalf("%d frames, want %d", len(src.frames), framesPerLoop)
			}
			dec, err := newDecoder(codec)
			if err != nil {
				t.Fatal(err)
			}
			var counting atomic.Bool
			d := toneDetector{freq: float64(toneFreq(17)), counting: &counting}
			for k := range 3 * framesPerLoop {
				if k == framesPerLoop/2 {
					counting.Store(true) // past the decoder's start
				}
				pcm, err := dec.decode(src.frames[k%framesPerLoop])
				if err != nil {
					t.Fatal(err)
				}
				if len(pcm) != pcmuFrame {
					t.Fatalf("frame %d decoded to %d samples, want %d", k, len(pcm), pcmuFrame)
				}
				d.add(pcm)
			}
			if b, w := d.blocks.Load(), d.withTone.Load(); b < 10 || w != b {
				t.Errorf("%d of %d blocks carry the tone", w, b)
			}
		})
	}
	if _, err := newAudioSource("g722", 500); err == nil {
		t.Error("unknown codec accepted")
	}
}
