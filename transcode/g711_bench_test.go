package transcode

import (
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// BenchmarkG711 encodes and decodes one 20 ms frame (160 samples at
// 8000 Hz) with each law.
func BenchmarkG711(b *testing.B) {
	pcm := testaudio.Sine(1000, 8000, 160, 0.3)
	payload := make([]byte, len(pcm))
	out := make([]int16, len(pcm))
	b.Run("PCMU", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodePCMU(payload, pcm)
			DecodePCMU(out, payload)
		}
	})
	b.Run("PCMA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodePCMA(payload, pcm)
			DecodePCMA(out, payload)
		}
	})
}
