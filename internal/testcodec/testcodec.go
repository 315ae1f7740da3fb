// Package testcodec carries the tests' tones in the codecs the gateway
// bridges: 20 ms Opus payloads of a tone (48 kHz RTP clock, RFC 7587),
// Opus payloads decoded back to 8 kHz PCM, G.711 RTP packets of a tone,
// and the assertion that a tone dominates what a side heard. It builds on
// package transcode (the gateway's own codecs) and internal/testaudio, and
// is imported only by tests.
package testcodec

import (
	"math"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// ToneAmp is the peak amplitude of the tones the tests send, as a fraction
// of full scale: 16000 of 32767, about half.
const ToneAmp = 16000.0 / testaudio.FullScale

// MinToneSamples is the least audio, in 8 kHz samples (100 ms), that
// AssertTone measures.
const MinToneSamples = 800

// AssertTone fails tb unless the tone want (Hz) clearly dominates notWant
// in pcm (8 kHz): at least 100 times its power, and loud enough to be the
// tests' tone rather than noise.
func AssertTone(tb testing.TB, pcm []int16, want, notWant float64) {
	tb.Helper()
	if len(pcm) < MinToneSamples {
		tb.Fatalf("only %d samples heard", len(pcm))
	}
	// Goertzel power without a window, per sample.
	n := float64(len(pcm))
	pw := testaudio.Power(pcm, 8000, want, testaudio.Rectangular) / n
	pn := testaudio.Power(pcm, 8000, notWant, testaudio.Rectangular) / n
	if pw < 100*pn || pw < 1e6 {
		tb.Fatalf("tone %v Hz not dominant: power %.3g, %v Hz power %.3g", want, pw, notWant, pn)
	}
}

// AssertToneLevel fails tb unless pcm is the tone want (clearly above
// notWant, as AssertTone) at the level ToneAmp sends it, within 2 dB: a
// G.711 codec decoded as the other law is neither.
func AssertToneLevel(tb testing.TB, pcm []int16, want, notWant float64) {
	tb.Helper()
	AssertTone(tb, pcm, want, notWant)
	sent := testaudio.ToneLevelDBFS(ToneAmp)
	if l := testaudio.LevelDBFS(pcm); math.Abs(l-sent) > 2 {
		tb.Fatalf("%v Hz tone at %.1f dBFS, sent at %.1f dBFS", want, l, sent)
	}
}

// OpusSource produces 20 ms Opus payloads (48 kHz RTP clock) of a tone,
// encoded by the gateway's own downlink transcoder.
type OpusSource struct {
	tb   testing.TB
	tone *testaudio.Tone
	dl   *transcode.Downlink
	seq  uint16
	ts   uint32
	pcm  [160]int16
	ulaw [160]byte
	out  []byte
}

// NewOpusSource returns a source of a freq Hz tone at ToneAmp, for Opus
// negotiated with payload type pt.
func NewOpusSource(tb testing.TB, freq float64, pt uint8) *OpusSource {
	tb.Helper()
	dl, err := transcode.NewDownlink(telephony.PCMU, telephony.Opus.WithPayloadType(pt))
	if err != nil {
		tb.Fatalf("NewDownlink: %v", err)
	}

	return &OpusSource{tb: tb, tone: testaudio.NewTone(freq, 8000, ToneAmp), dl: dl, out: make([]byte, dl.MaxPayloadSize())}
}

// Next returns the payload and 48 kHz timestamp of the next Opus packet.
// The payload is valid until the next call.
func (s *OpusSource) Next() ([]byte, uint32) {
	for {
		if n, ts, ok := s.dl.Next(s.out); ok {
			return s.out[:n], ts
		}
		s.tone.Fill(s.pcm[:])
		transcode.EncodePCMU(s.ulaw[:], s.pcm[:])
		s.seq++
		s.ts += 160
		if err := s.dl.Push(s.seq, s.ts, s.ulaw[:]); err != nil {
			s.tb.Errorf("Push: %v", err)

			return nil, s.ts
		}
	}
}

// OpusSink decodes Opus RTP payloads (48 kHz RTP clock) to 8 kHz PCM with
// the gateway's own uplink transcoder, concealing gaps as the gateway
// does. It is not safe for concurrent use.
type OpusSink struct {
	ul  *transcode.Uplink
	buf []byte
	pcm []int16
	tmp [160]int16
}

// NewOpusSink returns a sink for Opus negotiated with payload type pt.
func NewOpusSink(tb testing.TB, pt uint8) *OpusSink {
	tb.Helper()
	ul, err := transcode.NewUplink(telephony.Opus.WithPayloadType(pt), telephony.PCMU)
	if err != nil {
		tb.Fatalf("NewUplink: %v", err)
	}

	return &OpusSink{ul: ul, buf: make([]byte, ul.MaxPayloadSize())}
}

// Push decodes one Opus packet and appends its audio to PCM.
func (s *OpusSink) Push(p *rtp.Packet) {
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

// PCM is the audio decoded so far, 8 kHz; the sink keeps appending to it.
func (s *OpusSink) PCM() []int16 { return s.pcm }

// Stats are the decoder's counters: restarts, late packets and duplicates
// say the stream it received jumped.
func (s *OpusSink) Stats() transcode.Stats { return s.ul.Stats() }

// G711Packets marshals n 20 ms packets of a freq Hz tone at ToneAmp in
// codec c (PCMU or PCMA, with its payload type) as a trunk sends them,
// from sequence number seq and timestamp ts on, with SSRC 77.
func G711Packets(tb testing.TB, c telephony.Codec, n int, freq float64, seq uint16, ts uint32) [][]byte {
	tb.Helper()
	tone := testaudio.NewTone(freq, 8000, ToneAmp)
	var pcm [160]int16
	out := make([][]byte, n)
	for i := range out {
		tone.Fill(pcm[:])
		payload := make([]byte, 160)
		if c.IsPCMA() {
			transcode.EncodePCMA(payload, pcm[:])
		} else {
			transcode.EncodePCMU(payload, pcm[:])
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PayloadType, SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(160*i), SSRC: 77}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = b
	}

	return out
}

// G711Audio decodes, as codec c (PCMU or PCMA), the payloads of the
// packets with c's payload type among packets, to 8 kHz PCM.
func G711Audio(packets []rtp.Packet, c telephony.Codec) []int16 {
	var pcm []int16
	tmp := make([]int16, maxPacketSamples)
	for _, p := range packets {
		if p.PayloadType != c.PayloadType {
			continue
		}
		var n int
		if c.IsPCMA() {
			n = transcode.DecodePCMA(tmp, p.Payload)
		} else {
			n = transcode.DecodePCMU(tmp, p.Payload)
		}
		pcm = append(pcm, tmp[:n]...)
	}

	return pcm
}

// maxPacketSamples bounds the G.711 samples of one packet: one byte each,
// at most an MTU.
const maxPacketSamples = 1500

// Digits returns the DTMF digits of the RFC 4733 telephone-events of
// payload type pt among packets, one per event: its first end packet
// (RFC 4733 section 2.5.1.4 repeats it with the event's timestamp).
func Digits(packets []rtp.Packet, pt uint8) string {
	var out []rune
	var last uint32
	for _, p := range packets {
		var ev transcode.Event
		if p.PayloadType != pt || ev.Unmarshal(p.Payload) != nil || !ev.End || (len(out) > 0 && p.Timestamp == last) {
			continue
		}
		last = p.Timestamp
		if r, ok := transcode.DigitForEvent(ev.Code); ok {
			out = append(out, r)
		}
	}

	return string(out)
}
