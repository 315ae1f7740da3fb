package transcode

import (
	"math/rand/v2"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// lossPattern returns which of frames packets to drop for random loss at
// rate, seeded; the first and the last packet always arrive.
func lossPattern(frames int, rate float64, seed uint64) ([]bool, int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	lost := make([]bool, frames)
	var n int
	for i := 1; i < frames-1; i++ {
		if rng.Float64() < rate {
			lost[i] = true
			n++
		}
	}
	return lost, n
}

// checkCadence fails unless the trunk got one frame per 20 ms input
// interval with timestamps stepping by exactly 160.
func checkCadence(t *testing.T, res chainResult, frames int) {
	t.Helper()
	if len(res.trunk) != frames {
		t.Errorf("trunk got %d frames for %d intervals", len(res.trunk), frames)
	}
	for i := 1; i < len(res.trunk); i++ {
		if d := res.trunk[i].ts - res.trunk[i-1].ts; d != 160 {
			t.Fatalf("frame %d: timestamp step %d, want 160", i, d)
		}
	}
}

// introducedQuiet returns the longest run (samples) of 2.5 ms blocks that
// carry sound in clean but are 20 dB or more quieter in lossy: silence the
// losses added.
func introducedQuiet(clean, lossy []int16, rate int) int {
	block := rate / 400
	var run, longest int
	for i := 0; i+block <= len(clean) && i+block <= len(lossy); i += block {
		lc, ll := testaudio.LevelDBFS(clean[i:i+block]), testaudio.LevelDBFS(lossy[i:i+block])
		if lc > -45 && ll < lc-20 {
			run += block
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func TestUplinkRandomLossSpeech(t *testing.T) {
	t.Parallel()
	in := speechSample(t, "Webtrunk connects the browser to the telephone network. "+
		"Seven, eight, nine. The quick brown fox jumps over the lazy dog.", browserRate)
	in = append(in, make([]int16, browserFrame-len(in)%browserFrame)...)
	frames := len(in) / browserFrame
	clean := runChain(t, in, telephony.PCMU, nil)
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run("10% loss seed "+string(rune('0'+seed)), func(t *testing.T) {
			lost, nLost := lossPattern(frames, 0.10, seed)
			res := runChain(t, in, telephony.PCMU, func(i int) bool { return lost[i] })
			checkCadence(t, res, frames)
			if got := res.up.FEC + res.up.PLC; got != nLost {
				t.Errorf("FEC %d + PLC %d = %d concealed, %d lost", res.up.FEC, res.up.PLC, got, nLost)
			}
			// Speech keeps the browser encoder's FEC on: most single
			// losses come back from the next packet.
			if res.up.FEC < nLost/2 {
				t.Errorf("only %d of %d losses recovered by FEC", res.up.FEC, nLost)
			}
			// Continuity: losses add no silence longer than one frame
			// (20 ms, plus one 2.5 ms block of measurement alignment).
			if q := introducedQuiet(clean.trunkPC, res.trunkPC, 8000); q > 180 {
				t.Errorf("trunk: loss added %.1f ms of silence", float64(q)/8)
			}
			// The browser hears the concealed trunk audio re-encoded by the
			// downlink's Opus encoder, whose gain smoothing can stretch a
			// quiet concealed frame a little: bound it at two frames.
			if q := introducedQuiet(clean.browser, res.browser, browserRate); q > 2*browserFrame {
				t.Errorf("browser: loss added %.1f ms of silence", float64(q)/48)
			}
			t.Logf("lost %d of %d: FEC %d, PLC %d; added silence trunk %.1f ms, browser %.1f ms", nLost, frames,
				res.up.FEC, res.up.PLC, float64(introducedQuiet(clean.trunkPC, res.trunkPC, 8000))/8,
				float64(introducedQuiet(clean.browser, res.browser, browserRate))/48)
		})
	}
}

func TestUplinkRandomLossTone(t *testing.T) {
	t.Parallel()
	const frames = 250 // 5 s
	in := testaudio.Sine(1000, browserRate, frames*browserFrame, 0.25)
	lost, nLost := lossPattern(frames, 0.10, 7)
	res := runChain(t, in, telephony.PCMA, func(i int) bool { return lost[i] })
	checkCadence(t, res, frames)
	if got := res.up.FEC + res.up.PLC; got != nLost {
		t.Errorf("FEC %d + PLC %d = %d concealed, %d lost", res.up.FEC, res.up.PLC, got, nLost)
	}
	for _, leg := range []struct {
		name string
		x    []int16
	}{{"trunk", res.trunkPC[1600:]}, {"browser", decimate6(res.browser)[1600:]}} {
		if f := dominantFrequency(leg.x, 8000, 100, 3900); f < 980 || f > 1020 {
			t.Errorf("%s heard %.0f Hz under loss, want 1000 Hz +-2%%", leg.name, f)
		}
		if other := strongestOtherDB(leg.x, 8000, 1000, 50, 3950); other < 20 {
			t.Errorf("%s: another component only %.1f dB below the tone under loss", leg.name, other)
		}
	}
}
