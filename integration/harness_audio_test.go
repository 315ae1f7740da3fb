package integration

import (
	"math"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// TestGoertzel checks the tone detector the audio assertions rest on: a
// pure tone is recognised, another tone or silence is not, and a mix of
// the two is split by power.
func TestGoertzel(t *testing.T) {
	t.Parallel()
	tone := func(freq, rate, n int) []int16 {
		pcm := make([]int16, n)
		testaudio.NewTone(float64(freq), rate, toneAmp).Fill(pcm)
		return pcm
	}
	mix := func(a, b []int16) []int16 {
		out := make([]int16, len(a))
		for i := range a {
			out[i] = a[i]/2 + b[i]/2
		}
		return out
	}
	tests := []struct {
		name       string
		pcm        []int16
		rate       int
		freq       float64
		minS, maxS float64
	}{
		{"440 Hz at 48 kHz found", tone(440, 48000, 19200), 48000, 440, 0.95, 1.05},
		{"1000 Hz at 8 kHz found", tone(1000, 8000, 3200), 8000, 1000, 0.95, 1.05},
		{"440 Hz is not 1000 Hz", tone(440, 8000, 3200), 8000, 1000, 0, 0.01},
		{"neighbouring call tones apart", tone(330, 8000, 3200), 8000, 300, 0, 0.01},
		{"silence", make([]int16, 3200), 8000, 440, 0, 0},
		{"equal mix holds half", mix(tone(440, 8000, 3200), tone(1000, 8000, 3200)), 8000, 440, 0.45, 0.55},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testaudio.Share(tt.pcm, tt.rate, tt.freq, testaudio.Hann)
			if math.IsNaN(got) || got < tt.minS || got > tt.maxS {
				t.Fatalf("share at %v Hz = %.3f, want %.2f..%.2f", tt.freq, got, tt.minS, tt.maxS)
			}
		})
	}
}
