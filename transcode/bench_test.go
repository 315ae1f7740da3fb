package transcode

import (
	"strconv"
	"testing"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// Benchmarks of the media path. Compare Uplink+Downlink per frame with
// BareOpus (libopus decode of one 20 ms frame at 8 kHz plus encode of one
// 20 ms frame at 8 kHz, no pipeline): the difference is this package's
// overhead. The figures and the commands are in docs/performance.md.

// benchInputs returns 50 browser Opus packets and 50 G.711 frames of
// speech-like content (a tone mix), generated once.
func benchInputs(b *testing.B) ([][]byte, [][]byte) {
	b.Helper()
	pk := opusPackets(b, 50, 20)
	pcm := testaudio.Sine(440, 8000, 50*160, 0.2)
	for i, v := range testaudio.Sine(1230, 8000, 50*160, 0.1) {
		pcm[i] += v
	}
	g := make([][]byte, 50)
	for i := range g {
		g[i] = make([]byte, 160)
		EncodePCMU(g[i], pcm[i*160:(i+1)*160])
	}
	return pk, g
}

// mediaLeg is one direction of the media path: *Uplink or *Downlink.
type mediaLeg interface {
	Push(seq uint16, ts uint32, payload []byte) error
	Next(dst []byte) (n int, ts uint32, ok bool)
	MaxPayloadSize() int
}

// pushDrain pushes one packet into l and takes every frame it then has
// ready into out (at least l's MaxPayloadSize bytes). It leaves out
// b.Helper, whose cost per call would show in the passthrough figures.
func pushDrain(b *testing.B, l mediaLeg, seq uint16, ts uint32, payload, out []byte) { //nolint:thelper // see above: timed code
	if err := l.Push(seq, ts, payload); err != nil {
		b.Fatal(err)
	}
	discardFrames(l.Next, out)
}

// benchLegs returns the uplink (browser Opus to trunk PCMU) and downlink
// (trunk PCMU to browser Opus) of a call, with default settings.
func benchLegs(b *testing.B) (*Uplink, *Downlink) {
	b.Helper()
	up := mustUplink(b, telephony.Opus, telephony.PCMU)
	down := mustDownlink(b, telephony.PCMU, telephony.Opus)
	return up, down
}

// bareOpus returns a libopus decoder and an encoder set up as the
// pipeline's, and g decoded to 8 kHz PCM frames for the encoder.
func bareOpus(b *testing.B, g [][]byte) (*opus.Decoder, *opus.Encoder, [][]int16) {
	b.Helper()
	dec, err := newOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	enc, err := newOpusEncoder(defaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([][]int16, len(g))
	for i := range pcm {
		pcm[i] = make([]int16, 160)
		DecodePCMU(pcm[i], g[i])
	}
	return dec, enc, pcm
}

// benchLeg pushes one of payloads (20 ms each, ticks input clock ticks)
// per iteration into l and drains it.
func benchLeg(b *testing.B, l mediaLeg, payloads [][]byte, ticks int) {
	b.Helper()
	out := make([]byte, l.MaxPayloadSize())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pushDrain(b, l, uint16(i), uint32(i*ticks), payloads[i%len(payloads)], out)
		i++
	}
}

func BenchmarkUplink(b *testing.B) {
	pk, _ := benchInputs(b)
	up, _ := benchLegs(b)
	benchLeg(b, up, pk, 960)
}

func BenchmarkDownlink(b *testing.B) {
	_, g := benchInputs(b)
	_, down := benchLegs(b)
	benchLeg(b, down, g, 160)
}

// BenchmarkSameCodec is one 20 ms PCMU frame each way between legs that
// both speak PCMU: relayed (passthrough, the default) and decoded and
// re-encoded (WithTranscodeSameCodec).
func BenchmarkSameCodec(b *testing.B) {
	_, g := benchInputs(b)
	for _, bc := range []struct {
		name string
		on   bool
	}{{"passthrough", false}, {"re-encode", true}} {
		b.Run(bc.name, func(b *testing.B) {
			up := mustUplink(b, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(bc.on))
			down := mustDownlink(b, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(bc.on))
			out := make([]byte, 1500)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				pushDrain(b, up, uint16(i), uint32(i*160), g[i%50], out)
				pushDrain(b, down, uint16(i), uint32(i*160), g[i%50], out)
				i++
			}
			if up.Stats().Frames == 0 || down.Stats().Frames == 0 {
				b.Fatal("no frames out")
			}
		})
	}
}

// BenchmarkCallSecond is one second of a call: 50 frames each way.
func BenchmarkCallSecond(b *testing.B) {
	pk, g := benchInputs(b)
	up, down := benchLegs(b)
	out := make([]byte, 1500)
	b.ReportAllocs()
	var seq int
	for b.Loop() {
		for i := range 50 {
			pushDrain(b, up, uint16(seq), uint32(seq*960), pk[i], out)
			pushDrain(b, down, uint16(seq), uint32(seq*160), g[i], out)
			seq++
		}
	}
}

// BenchmarkBareOpus is libopus alone through hraban/opus with the same
// settings and inputs: decode one 20 ms browser packet to 8 kHz and encode
// one 20 ms 8 kHz frame.
func BenchmarkBareOpus(b *testing.B) {
	pk, g := benchInputs(b)
	dec, enc, pcm := bareOpus(b, g)
	dpcm := make([]int16, 160)
	out := make([]byte, 1500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := dec.Decode(pk[i%50], dpcm); err != nil {
			b.Fatal(err)
		}
		if _, err := enc.Encode(pcm[i%50], out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkOpusEncodeComplexity measures the 8 kHz encoder per 20 ms frame
// at each complexity, to choose DefaultOpusComplexity.
func BenchmarkOpusEncodeComplexity(b *testing.B) {
	_, g := benchInputs(b)
	pcm := make([]int16, 160)
	for c := 0; c <= 10; c++ {
		b.Run("c="+strconv.Itoa(c), func(b *testing.B) {
			s := defaultSettings()
			s.complexity = c
			enc, err := newOpusEncoder(s)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 1500)
			i := 0
			for b.Loop() {
				DecodePCMU(pcm, g[i%50])
				if _, err := enc.Encode(pcm, out); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkOpusEncode48k is the alternative the design avoids: encoding at
// 48 kHz (as a resampler in front of the encoder would require).
func BenchmarkOpusEncode48k(b *testing.B) {
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		b.Fatal(err)
	}
	_ = enc.SetBitrate(DefaultOpusBitrate)
	_ = enc.SetComplexity(DefaultOpusComplexity)
	_ = enc.SetInBandFEC(true)
	_ = enc.SetPacketLossPerc(DefaultOpusExpectedLoss)
	pcm := testaudio.Sine(440, 48000, 960, 0.2)
	out := make([]byte, 1500)
	for b.Loop() {
		if _, err := enc.Encode(pcm, out); err != nil {
			b.Fatal(err)
		}
	}
}
