package gateway

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// toneAmp is the peak amplitude of the tones the gateway tests send, as a
// fraction of full scale: 16000 of 32767, about half.
const toneAmp = 16000.0 / testaudio.FullScale

// assertTone fails unless want clearly dominates notWant in pcm.
func assertTone(t *testing.T, pcm []int16, want, notWant float64) {
	t.Helper()
	if len(pcm) < 800 {
		t.Fatalf("only %d samples heard", len(pcm))
	}
	// Goertzel power without a window, per sample.
	n := float64(len(pcm))
	pw := testaudio.Power(pcm, 8000, want, testaudio.Rectangular) / n
	pn := testaudio.Power(pcm, 8000, notWant, testaudio.Rectangular) / n
	if pw < 100*pn || pw < 1e6 {
		t.Fatalf("tone %v Hz not dominant: power %.3g, %v Hz power %.3g", want, pw, notWant, pn)
	}
}

// opusSource produces 20 ms Opus RTP packets (48 kHz clock) of a tone,
// encoded through the gateway's own downlink transcoder.
type opusSource struct {
	tb   testing.TB
	tone *testaudio.Tone
	dl   *transcode.Downlink
	seq  uint16
	ts   uint32
	pcm  [160]int16
	ulaw [160]byte
	out  []byte
}

func newOpusSource(tb testing.TB, freq float64, pt uint8) *opusSource {
	tb.Helper()
	dl, err := transcode.NewDownlink(telephony.PCMU, telephony.Opus.WithPayloadType(pt))
	if err != nil {
		tb.Fatalf("NewDownlink: %v", err)
	}

	return &opusSource{tb: tb, tone: testaudio.NewTone(freq, 8000, toneAmp), dl: dl, out: make([]byte, dl.MaxPayloadSize())}
}

// next returns the payload and 48 kHz timestamp of the next Opus packet.
func (s *opusSource) next() ([]byte, uint32) {
	s.tb.Helper()
	for {
		if n, ts, ok := s.dl.Next(s.out); ok {
			return s.out[:n], ts
		}
		s.tone.Fill(s.pcm[:])
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
	ul, err := transcode.NewUplink(telephony.Opus.WithPayloadType(pt), telephony.PCMU)
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
