package gateway

import (
	"math"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// toneGen generates a sine tone as 16-bit PCM at 8 kHz, continuing its
// phase across calls.
type toneGen struct {
	freq  float64
	phase float64
}

// fill writes the next len(dst) samples of the tone at half full scale.
func (g *toneGen) fill(dst []int16) {
	step := 2 * math.Pi * g.freq / 8000
	for i := range dst {
		dst[i] = int16(16000 * math.Sin(g.phase))
		g.phase += step
	}
}

// power returns the Goertzel power of freq in PCM at 8 kHz, normalised by
// the signal's length.
func power(pcm []int16, freq float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s
	}

	return (s1*s1 + s2*s2 - coeff*s1*s2) / float64(len(pcm))
}

// assertTone fails unless want clearly dominates notWant in pcm.
func assertTone(t *testing.T, pcm []int16, want, notWant float64) {
	t.Helper()
	if len(pcm) < 800 {
		t.Fatalf("only %d samples heard", len(pcm))
	}
	pw, pn := power(pcm, want), power(pcm, notWant)
	if pw < 100*pn || pw < 1e6 {
		t.Fatalf("tone %v Hz not dominant: power %.3g, %v Hz power %.3g", want, pw, notWant, pn)
	}
}

// opusSource produces 20 ms Opus RTP packets (48 kHz clock) of a tone,
// encoded through the gateway's own downlink transcoder.
type opusSource struct {
	tb   testing.TB
	tone toneGen
	dl   *transcode.Downlink
	seq  uint16
	ts   uint32
	pcm  [160]int16
	ulaw [160]byte
	out  []byte
}

func newOpusSource(tb testing.TB, freq float64, pt uint8) *opusSource {
	tb.Helper()
	dl, err := transcode.NewDownlink(transcode.CodecPCMU, transcode.CodecOpus.WithPayloadType(pt))
	if err != nil {
		tb.Fatalf("NewDownlink: %v", err)
	}

	return &opusSource{tb: tb, tone: toneGen{freq: freq}, dl: dl, out: make([]byte, dl.MaxPayloadSize())}
}

// next returns the payload and 48 kHz timestamp of the next Opus packet.
func (s *opusSource) next() ([]byte, uint32) {
	s.tb.Helper()
	for {
		if n, ts, ok := s.dl.Next(s.out); ok {
			return s.out[:n], ts
		}
		s.tone.fill(s.pcm[:])
		transcode.EncodePCMU(s.ulaw[:], s.pcm[:])
		s.seq++
		s.ts += 160
		if err := s.dl.Push(s.seq, s.ts, s.ulaw[:]); err != nil {
			s.tb.Fatalf("Push: %v", err)
		}
	}
}

// opusSink decodes Opus payloads (48 kHz RTP clock) to 8 kHz PCM.
type opusSink struct {
	ul  *transcode.Uplink
	buf []byte
	pcm []int16
	tmp [160]int16
}

func newOpusSink(tb testing.TB, pt uint8) *opusSink {
	tb.Helper()
	ul, err := transcode.NewUplink(transcode.CodecOpus.WithPayloadType(pt), transcode.CodecPCMU)
	if err != nil {
		tb.Fatalf("NewUplink: %v", err)
	}

	return &opusSink{ul: ul, buf: make([]byte, ul.MaxPayloadSize())}
}

// push decodes one Opus packet.
func (s *opusSink) push(p *rtp.Packet) {
	_ = s.ul.Push(p.SequenceNumber, p.Timestamp, p.Payload)
	for {
		n, _, ok := s.ul.Next(s.buf)
		if !ok {
			return
		}
		m := transcode.DecodePCMU(s.tmp[:], s.buf[:n])
		s.pcm = append(s.pcm, s.tmp[:m]...)
	}
}
