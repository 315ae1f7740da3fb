package transcode

import (
	"strconv"
	"testing"

	"github.com/hraban/opus"
)

// Benchmarks of the media path. Compare Uplink+Downlink per frame with
// BareOpus (libopus decode of one 20 ms frame at 8 kHz plus encode of one
// 20 ms frame at 8 kHz, no pipeline): the difference is this package's
// overhead. Results and the command are in doc.go.

// benchInputs returns 50 browser Opus packets and 50 G.711 frames of
// speech-like content (a tone mix), generated once.
func benchInputs(b *testing.B) ([][]byte, [][]byte) {
	b.Helper()
	pk := opusPackets(b, 50, 20)
	pcm := toneAt(440, 8000, 50*160, 0.2)
	for i, v := range toneAt(1230, 8000, 50*160, 0.1) {
		pcm[i] += v
	}
	g := make([][]byte, 50)
	for i := range g {
		g[i] = make([]byte, 160)
		EncodePCMU(g[i], pcm[i*160:(i+1)*160])
	}
	return pk, g
}

func BenchmarkUplink(b *testing.B) {
	pk, _ := benchInputs(b)
	up, err := NewUplink(CodecOpus, CodecPCMU)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, up.MaxPayloadSize())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := up.Push(uint16(i), uint32(i*960), pk[i%50]); err != nil {
			b.Fatal(err)
		}
		for {
			if _, _, ok := up.Next(out); !ok {
				break
			}
		}
		i++
	}
}

func BenchmarkDownlink(b *testing.B) {
	_, g := benchInputs(b)
	down, err := NewDownlink(CodecPCMU, CodecOpus)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, down.MaxPayloadSize())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := down.Push(uint16(i), uint32(i*160), g[i%50]); err != nil {
			b.Fatal(err)
		}
		for {
			if _, _, ok := down.Next(out); !ok {
				break
			}
		}
		i++
	}
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
			up, err := NewUplink(CodecPCMU, CodecPCMU, WithTranscodeSameCodec(bc.on))
			if err != nil {
				b.Fatal(err)
			}
			down, err := NewDownlink(CodecPCMU, CodecPCMU, WithTranscodeSameCodec(bc.on))
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 1500)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := up.Push(uint16(i), uint32(i*160), g[i%50]); err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, ok := up.Next(out); !ok {
						break
					}
				}
				if err := down.Push(uint16(i), uint32(i*160), g[i%50]); err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, ok := down.Next(out); !ok {
						break
					}
				}
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
	up, err := NewUplink(CodecOpus, CodecPCMU)
	if err != nil {
		b.Fatal(err)
	}
	down, err := NewDownlink(CodecPCMU, CodecOpus)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 1500)
	b.ReportAllocs()
	var seq int
	for b.Loop() {
		for i := range 50 {
			if err := up.Push(uint16(seq), uint32(seq*960), pk[i]); err != nil {
				b.Fatal(err)
			}
			for {
				if _, _, ok := up.Next(out); !ok {
					break
				}
			}
			if err := down.Push(uint16(seq), uint32(seq*160), g[i]); err != nil {
				b.Fatal(err)
			}
			for {
				if _, _, ok := down.Next(out); !ok {
					break
				}
			}
			seq++
		}
	}
}

// BenchmarkBareOpus is libopus alone through hraban/opus with the same
// settings and inputs: decode one 20 ms browser packet to 8 kHz and encode
// one 20 ms 8 kHz frame.
func BenchmarkBareOpus(b *testing.B) {
	pk, g := benchInputs(b)
	dec, err := newOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	enc, err := newOpusEncoder(defaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([][]int16, 50)
	for i := range pcm {
		pcm[i] = make([]int16, 160)
		DecodePCMU(pcm[i], g[i])
	}
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
	pcm := toneAt(440, 48000, 960, 0.2)
	out := make([]byte, 1500)
	for b.Loop() {
		if _, err := enc.Encode(pcm, out); err != nil {
			b.Fatal(err)
		}
	}
}
