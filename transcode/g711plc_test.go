package transcode

import (
	"math"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// Concealment of lost trunk packets: what the browser hears in place of a
// lost G.711 packet is the sound that was playing, not a hole.

// downlinkRun pushes the G.711 stream src (packets of packet bytes) through
// a Downlink from in to out and returns the output as 8 kHz PCM (Opus
// decoded at 8 kHz) with the Downlink's Stats. Packets for which lose is
// true are not sent; with silenceFill they are sent as G.711 silence
// instead, which is what a Downlink without concealment produced for them.
func downlinkRun(t *testing.T, in, out telephony.Codec, src []byte, packet int, lose func(int) bool, silenceFill bool) ([]int16, Stats) {
	t.Helper()
	d := mustDownlink(t, in, out, WithTranscodeSameCodec(true))
	ear := newListener(t)
	silence := make([]byte, packet)
	for i := range silence {
		silence[i] = silenceByte(in)
	}
	var heard []int16
	for i := 0; (i+1)*packet <= len(src); i++ {
		payload := src[i*packet : (i+1)*packet]
		if lose != nil && lose(i) {
			if !silenceFill {
				continue
			}
			payload = silence
		}
		if err := d.Push(uint16(1000+i), uint32(90000+i*packet), payload); err != nil {
			t.Fatal(err)
		}
		h, _ := ear.drain(t, out, d.Next, d.MaxPayloadSize())
		heard = append(heard, h...)
	}
	return heard, d.Stats()
}

// maxStep returns the largest difference between neighbouring samples.
func maxStep(x []int16) int {
	var m int
	for i := 1; i < len(x); i++ {
		m = max(m, int(math.Abs(float64(x[i])-float64(x[i-1]))))
	}
	return m
}

// quietStretches returns the total and the longest length (samples) of
// runs of 2.5 ms blocks that carry sound in clean but are 20 dB or more
// quieter in lossy.
func quietStretches(clean, lossy []int16) (total, longest int) {
	const block = 20
	run := 0
	for i := 0; i+block <= len(clean) && i+block <= len(lossy); i += block {
		lc, ll := testaudio.LevelDBFS(clean[i:i+block]), testaudio.LevelDBFS(lossy[i:i+block])
		if lc > -45 && ll < lc-20 {
			run += block
			total += block
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return total, longest
}

func TestConcealToneThroughGap(t *testing.T) {
	const (
		packet = 160 // 20 ms
		count  = 40  // 800 ms
		gapAt  = 20  // first lost packet
		amp    = 0.25
	)
	tests := []struct {
		name  string
		codec telephony.Codec
		freq  float64
		lost  int // consecutive packets lost from gapAt
	}{
		{"1 kHz PCMU, one lost", telephony.PCMU, 1000, 1},
		{"1 kHz PCMA, two lost", telephony.PCMA, 1000, 2},
		{"300 Hz PCMU, one lost", telephony.PCMU, 300, 1},
		{"300 Hz PCMA, two lost", telephony.PCMA, 300, 2},
		{"440 Hz PCMU, four lost", telephony.PCMU, 440, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tone := testaudio.Sine(tc.freq, 8000, count*packet, amp)
			src := encodeG711(tc.codec, tone)
			clean := decodeG711(tc.codec, src)
			lose := func(i int) bool { return i >= gapAt && i < gapAt+tc.lost }
			heard, st := downlinkRun(t, tc.codec, tc.codec, src, packet, lose, false)
			if len(heard) != len(clean) {
				t.Fatalf("%d samples out, want %d", len(heard), len(clean))
			}
			if st.Concealed != tc.lost || st.Silence != 0 {
				t.Errorf("Stats = %+v, want %d concealed, none silent", st, tc.lost)
			}
			g0 := gapAt * packet
			ref := testaudio.LevelDBFS(clean[:g0])
			// The first 20 ms of the gap: the same tone at the same level
			// (the attenuation starts 10 ms in: about -1 dB over 20 ms).
			first := heard[g0 : g0+160]
			if f := dominantFrequency(first, 8000, 100, 3900); math.Abs(f-tc.freq) > 0.02*tc.freq {
				t.Errorf("first 20 ms of the gap heard at %.1f Hz, want %.0f Hz +-2%%", f, tc.freq)
			}
			if d := testaudio.LevelDBFS(first) - ref; d > 0.5 || d < -2 {
				t.Errorf("first 20 ms of the gap at %+.1f dB from the tone, want -2..+0.5 dB", d)
			}
			if r := toneToRestDB(first, 8000, tc.freq); r < 20 {
				t.Errorf("first 20 ms of the gap only %.1f dB tone over the rest", r)
			}
			// Then the level falls by 20% per 10 ms: 10 ms blocks centred
			// at 25, 35, 45 and 55 ms are at 0.7, 0.5, 0.3 and 0.1 of it,
			// and from 60 ms on the gap is silent.
			for k, want := range []float64{0.7, 0.5, 0.3, 0.1} {
				at := g0 + 160 + k*80
				if at+80 > (gapAt+tc.lost)*packet {
					break
				}
				d := testaudio.LevelDBFS(heard[at:at+80]) - ref
				if w := 20 * math.Log10(want); math.Abs(d-w) > 1.5 {
					t.Errorf("gap %d-%d ms at %+.1f dB, want %+.1f dB", 20+10*k, 30+10*k, d, w)
				}
			}
			if end := (gapAt + tc.lost) * packet; end-g0 > 480 {
				if l := testaudio.LevelDBFS(heard[g0+480 : end]); l > -70 {
					t.Errorf("gap after 60 ms at %.1f dBFS, want silence", l)
				}
			}
			// No hole where the old code put 20 ms of silence: in a gap of
			// up to 40 ms nothing falls 20 dB below the tone.
			if tc.lost <= 2 {
				if _, q := quietStretches(clean, heard); q > 0 {
					t.Errorf("concealment left %.1f ms of silence", float64(q)/8)
				}
				silent, _ := downlinkRun(t, tc.codec, tc.codec, src, packet, lose, true)
				if _, q := quietStretches(clean, silent); q < tc.lost*packet-20 {
					t.Errorf("the silence-filled reference shows only %.1f ms of silence: the measure is broken", float64(q)/8)
				}
			}
			// No click at the joins: no step between neighbouring samples
			// larger than the tone's own (plus G.711 quantisation).
			if s, limit := maxStep(heard[g0-packet:(gapAt+tc.lost+1)*packet]), maxStep(clean)*11/10; s > limit {
				t.Errorf("largest sample step around the gap %d, the tone's own is %d", s, limit*10/11)
			}
			// After the gap the tone is back in full within 10 ms.
			back := (gapAt + tc.lost) * packet
			if d := testaudio.LevelDBFS(heard[back+80:back+160]) - ref; math.Abs(d) > 0.5 {
				t.Errorf("10-20 ms after the gap at %+.1f dB from the tone", d)
			}
			t.Logf("gap first 20 ms %+.2f dB, largest step %d (tone %d)", testaudio.LevelDBFS(first)-ref,
				maxStep(heard[g0-packet:(gapAt+tc.lost+1)*packet]), maxStep(clean))
		})
	}
}

// lossSpectralDistance returns the mean absolute difference (dB) between
// the band energies of x and ref (as in TestSpeechThroughUplinkAndDownlink)
// over the 20 ms frames that were lost and the frame after each loss,
// where loss changes what is heard.
func lossSpectralDistance(ref, x []int16, lost []bool) float64 {
	frames := min(len(ref), len(x), 160*len(lost)) / 160
	sr, sx := spectrogramDB(ref, frames), spectrogramDB(x, frames)
	const bands = 12
	var sum float64
	var n int
	for i := range frames {
		if lost[i] || (i > 0 && lost[i-1]) {
			for k := i * bands; k < (i+1)*bands; k++ {
				sum += math.Abs(sr[k] - sx[k])
				n++
			}
		}
	}
	return sum / float64(n)
}

// spectralCorrelation compares x with ref frame by frame (20 ms, 8 kHz)
// by their band energies, as TestSpeechThroughUplinkAndDownlink does.
func spectralCorrelation(ref, x []int16) float64 {
	frames := min(len(ref), len(x)) / 160
	return correlation(spectrogramDB(ref, frames), spectrogramDB(x, frames))
}

func TestConcealSpeechRandomLoss(t *testing.T) {
	t.Parallel()
	const packet = 160
	pcm := speechSample(t, "Webtrunk connects the browser to the telephone network. "+
		"Seven, eight, nine. The quick brown fox jumps over the lazy dog.", 8000)
	pcm = append(pcm, make([]int16, packet-len(pcm)%packet)...)
	frames := len(pcm) / packet
	tests := []struct {
		name string
		out  telephony.Codec
		rate float64
		seed uint64
	}{
		{"PCMU 5%", telephony.PCMU, 0.05, 11},
		{"PCMA 10%", telephony.PCMA, 0.10, 12},
		{"Opus 5%", telephony.Opus, 0.05, 13},
		{"Opus 10%", telephony.Opus, 0.10, 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := telephony.PCMU
			if tc.out.IsPCMA() {
				in = telephony.PCMA
			}
			src := encodeG711(in, pcm)
			lost, nLost := lossPattern(frames, tc.rate, tc.seed)
			lose := func(i int) bool { return lost[i] }
			clean, _ := downlinkRun(t, in, tc.out, src, packet, nil, false)
			plc, st := downlinkRun(t, in, tc.out, src, packet, lose, false)
			silent, _ := downlinkRun(t, in, tc.out, src, packet, lose, true)
			// Opus delays its output by a few ms: analyse the frames the
			// lost packets became.
			delay, _ := bestLag(toFloat(pcm[:8000]), toFloat(clean[:8200]), 160)
			clean, plc, silent = clean[delay:], plc[delay:], silent[delay:]
			if st.Concealed+st.Silence != nLost || st.Concealed < nLost-1 {
				t.Errorf("Stats = %+v for %d lost packets, want them concealed", st, nLost)
			}
			plcTotal, plcLongest := quietStretches(clean, plc)
			silTotal, silLongest := quietStretches(clean, silent)
			if plcTotal >= silTotal/2 {
				t.Errorf("concealment left %.1f ms of added silence, silence fill %.1f ms: want less than half",
					float64(plcTotal)/8, float64(silTotal)/8)
			}
			// A loss at a word's onset has nothing to repeat, so the longest
			// stretch may equal silence fill's, never exceed it.
			if plcLongest > silLongest {
				t.Errorf("longest added silence %.1f ms, longer than silence fill's %.1f ms",
					float64(plcLongest)/8, float64(silLongest)/8)
			}
			// The frames around the losses sound closer to the clean
			// speech, and the whole still correlates with it at least as
			// well.
			dPLC, dSil := lossSpectralDistance(clean, plc, lost), lossSpectralDistance(clean, silent, lost)
			if dPLC >= dSil {
				t.Errorf("around the losses the spectrum is %.1f dB off the clean one, silence fill %.1f dB", dPLC, dSil)
			}
			// Through Opus, frames away from the losses differ between runs
			// by the encoder's state (about 0.005 of correlation across
			// loss patterns); through G.711 they are identical.
			margin := 0.0
			if tc.out.IsOpus() {
				margin = 0.01
			}
			cPLC, cSil := spectralCorrelation(clean, plc), spectralCorrelation(clean, silent)
			if cPLC < cSil-margin {
				t.Errorf("spectral correlation with the clean output %.3f, below silence fill's %.3f", cPLC, cSil)
			}
			t.Logf("delay %d samples, %d of %d lost: added silence %.1f ms (longest %.1f) vs %.1f ms (longest %.1f) with silence fill; "+
				"spectral distance around losses %.1f vs %.1f dB; spectral corr %.3f vs %.3f",
				delay, nLost, frames, float64(plcTotal)/8, float64(plcLongest)/8, float64(silTotal)/8, float64(silLongest)/8, dPLC, dSil, cPLC, cSil)
		})
	}
}

func TestConcealDownlinkToOpus(t *testing.T) {
	t.Parallel()
	const (
		packet = 160
		count  = 100 // 2 s
		freq   = 1000
	)
	tone := testaudio.Sine(freq, 8000, count*packet, 0.25)
	src := encodeG711(telephony.PCMA, tone)
	// Single losses every 300 ms, clear of the encoder's start-up.
	lose := func(i int) bool { return i >= 20 && i%15 == 5 }
	clean, _ := downlinkRun(t, telephony.PCMA, telephony.Opus, src, packet, nil, false)
	plc, st := downlinkRun(t, telephony.PCMA, telephony.Opus, src, packet, lose, false)
	silent, _ := downlinkRun(t, telephony.PCMA, telephony.Opus, src, packet, lose, true)
	var nLost int
	for i := range count {
		if lose(i) {
			nLost++
		}
	}
	if st.Concealed != nLost {
		t.Errorf("Stats = %+v, want %d concealed", st, nLost)
	}
	ref := testaudio.LevelDBFS(clean[4000:])
	// Every 20 ms of what the browser hears after the start-up is the
	// tone within 3 dB, gaps included (Opus delays them by a few ms).
	worst := func(x []int16) (float64, float64) {
		low, far := 0.0, 0.0
		for at := 3200; at+160 <= len(x); at += 40 {
			w := x[at : at+160]
			low = min(low, testaudio.LevelDBFS(w)-ref)
			far = max(far, math.Abs(dominantFrequency(w, 8000, 100, 3900)-freq))
		}
		return low, far
	}
	low, far := worst(plc)
	if low < -3 || far > 0.05*freq {
		t.Errorf("browser heard a 20 ms window %.1f dB below the tone, frequency off by up to %.0f Hz", low, far)
	}
	if sLow, _ := worst(silent); sLow > -10 {
		t.Errorf("silence-filled reference dips only %.1f dB: the measure cannot tell a hole", sLow)
	}
	t.Logf("worst 20 ms window %+.1f dB, frequency within %.1f Hz (silence fill dips %+.1f dB)", low, far, func() float64 { l, _ := worst(silent); return l }())
}

// harmonics returns n samples (8 kHz) of a periodic signal of fundamental
// f Hz with its first k harmonics at falling amplitude: a vowel-like sound.
func harmonics(f float64, k, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		var v float64
		for h := 1; h <= k; h++ {
			v += math.Sin(2*math.Pi*f*float64(h)*float64(i)/8000+float64(h)) / float64(h)
		}
		out[i] = int16(4000 * v)
	}
	return out
}

// maxCurvature returns the largest second difference of x: a step or a
// kink in the waveform (a click) shows as a spike in it.
func maxCurvature(x []int16) float64 {
	var m float64
	for i := 1; i+1 < len(x); i++ {
		m = max(m, math.Abs(float64(x[i+1])-2*float64(x[i])+float64(x[i-1])))
	}
	return m
}

func TestG711PLCPitchAndJoins(t *testing.T) {
	tests := []struct {
		name   string
		signal []int16
		period float64 // true period in samples
	}{
		{"vowel 169 Hz (period 47.3)", harmonics(8000/47.3, 8, 1600), 47.3},
		{"vowel 110 Hz (period 72.7)", harmonics(110, 10, 1600), 8000.0 / 110},
		{"vowel 85 Hz (period 94.1)", harmonics(85, 12, 1600), 8000.0 / 85},
		{"tone 300 Hz (period 26.7)", testaudio.Sine(300, 8000, 1600, 0.3), 8000.0 / 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c g711PLC
			c.record(tc.signal[:800])
			if !c.ready() {
				t.Fatal("100 ms of history is not enough to conceal")
			}
			c.begin()
			// The period found is a whole multiple of the true one, to
			// within one sample.
			m := math.Round(float64(c.period) / tc.period)
			if m < 1 || math.Abs(float64(c.period)-m*tc.period) > 1 {
				t.Errorf("pitch period %d samples, want a multiple of %.1f", c.period, tc.period)
			}
			// 60 ms of gap then the signal again: no click anywhere, at the
			// start, at the wraps and widenings, or on the return.
			heard := append([]int16(nil), tc.signal[:800]...)
			gap := make([]int16, 480)
			c.synthesize(gap)
			heard = append(heard, gap...)
			back := append([]int16(nil), tc.signal[1280:]...)
			c.finish(back)
			heard = append(heard, back...)
			own := maxCurvature(tc.signal)
			// (Without the cross-fades the 47.3-sample case reaches 1.2 times
			// its own.)
			if got := maxCurvature(heard[640:]); got > 1.15*own {
				t.Errorf("largest second difference %.0f around the gap, the signal's own %.0f", got, own)
			}
			// The first 10 ms of the gap are the signal's level.
			if d := testaudio.LevelDBFS(gap[:80]) - testaudio.LevelDBFS(tc.signal[720:800]); math.Abs(d) > 1.5 {
				t.Errorf("first 10 ms of the gap %+.1f dB from the signal", d)
			}
			t.Logf("period %d, curvature %.0f (signal %.0f)", c.period, maxCurvature(heard[640:]), own)
		})
	}
}

// BenchmarkG711Conceal measures one lost 20 ms packet concealed and the
// cross-fade into the packet after it: the pitch search, the synthesis
// and the return.
func BenchmarkG711Conceal(b *testing.B) {
	signal := harmonics(110, 10, 800)
	var c g711PLC
	gap := make([]int16, 160)
	back := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		c.record(signal)
		c.begin()
		c.synthesize(gap)
		copy(back, signal)
		c.finish(back)
	}
}
