package testaudio

import (
	"math"
	"testing"
)

func TestToneFramesJoinLikeOneSine(t *testing.T) {
	whole := Sine(1000, 8000, 800, 0.25)
	tone := NewTone(1000, 8000, 0.25)
	framed := make([]int16, 0, 800)
	frame := make([]int16, 160)
	for range 5 {
		tone.Fill(frame)
		framed = append(framed, frame...)
	}
	for i := range whole {
		if whole[i] != framed[i] {
			t.Fatalf("sample %d: framed %d, whole %d", i, framed[i], whole[i])
		}
	}
	// 1 kHz at 8 kHz: samples 2 and 6 of each period are the peaks.
	if whole[2] != 8192 || whole[6] != -8192 {
		t.Fatalf("peaks %d and %d, want +-8192 (0.25 of full scale)", whole[2], whole[6])
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		name string
		amp  float64
	}{
		{"full scale", 1},
		{"half scale", 0.5},
		{"-26 dBFS", 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Sine(440, 48000, 48000, tt.amp)
			if got, want := LevelDBFS(x), ToneLevelDBFS(tt.amp); math.Abs(got-want) > 0.01 {
				t.Errorf("LevelDBFS %.3f, want %.3f", got, want)
			}
			if got, want := RMS(x), tt.amp*FullScale/math.Sqrt2; math.Abs(got-want) > 0.5 {
				t.Errorf("RMS %.2f, want %.2f", got, want)
			}
		})
	}
	if l := LevelDBFS(make([]int16, 160)); l > -190 {
		t.Errorf("silence at %.1f dBFS", l)
	}
	if RMS(nil) != 0 || LevelDBFS(nil) > -190 {
		t.Errorf("no samples: RMS %v, level %v", RMS(nil), LevelDBFS(nil))
	}
}

func TestShareAndPower(t *testing.T) {
	tests := []struct {
		name       string
		pcm        []int16
		rate       int
		freq       float64
		w          Window
		minS, maxS float64
		minP, maxP float64 // Power bounds, int16 units squared
	}{
		{"on-bin tone, rectangular", Sine(1000, 8000, 800, 0.5), 8000, 1000, Rectangular, 0.99, 1.01,
			sq(0.5 * FullScale * 800 / 2 * 0.99), sq(0.5 * FullScale * 800 / 2 * 1.01)},
		{"off-bin tone, Hann", Sine(440, 48000, 19200, 0.25), 48000, 440, Hann, 0.97, 1.01,
			sq(0.25 * FullScale * 19200 / 4 * 0.98), sq(0.25 * FullScale * 19200 / 4 * 1.01)},
		{"other tone, Hann", Sine(1000, 8000, 3200, 0.5), 8000, 440, Hann, 0, 0.01, 0, sq(0.5 * FullScale * 3200 / 4 * 0.1)},
		{"other tone, rectangular", Sine(1370, 8000, 1600, 0.5), 8000, 1000, Rectangular, 0, 0.05, 0, sq(0.5 * FullScale * 1600 / 2 * 0.25)},
		{"neighbouring call tones apart, Hann", Sine(330, 8000, 3200, 0.25), 8000, 300, Hann, 0, 0.01, 0, sq(0.25 * FullScale * 3200 / 4 * 0.1)},
		{"equal mix holds half, Hann", mix(Sine(440, 8000, 3200, 0.25), Sine(1000, 8000, 3200, 0.25)), 8000, 440, Hann, 0.45, 0.55,
			sq(0.125 * FullScale * 3200 / 4 * 0.98), sq(0.125 * FullScale * 3200 / 4 * 1.02)},
		{"silence", make([]int16, 800), 8000, 1000, Hann, 0, 0, 0, 0},
		{"one sample", []int16{1000}, 8000, 1000, Rectangular, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := Share(tt.pcm, tt.rate, tt.freq, tt.w); s < tt.minS || s > tt.maxS {
				t.Errorf("Share at %v Hz = %.4f, want %.2f..%.2f", tt.freq, s, tt.minS, tt.maxS)
			}
			if p := Power(tt.pcm, tt.rate, tt.freq, tt.w); p < tt.minP || p > tt.maxP {
				t.Errorf("Power at %v Hz = %.4g, want %.4g..%.4g", tt.freq, p, tt.minP, tt.maxP)
			}
		})
	}
}

func TestToneFillDoesNotAllocate(t *testing.T) {
	tone := NewTone(440, 48000, 0.5)
	frame := make([]int16, 960)
	if n := testing.AllocsPerRun(100, func() { tone.Fill(frame) }); n != 0 {
		t.Fatalf("Fill allocates %.0f times per frame", n)
	}
}

func sq(x float64) float64 { return x * x }

// mix is the sum of a and b at half their level each.
func mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		out[i] = a[i]/2 + b[i]/2
	}

	return out
}
