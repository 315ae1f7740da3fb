package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"
)

// Codecs the load generator offers on the browser leg.
const (
	codecOpus = "opus" // Opus/48000/2, payload type 111 (as Chromium numbers it): the gateway transcodes
	codecPCMU = "pcmu" // PCMU/8000, payload type 0: the gateway passes G.711 through
)

// Frame shape: one RTP packet every 20 ms.
const (
	frameInterval = 20 * time.Millisecond
	framesPerLoop = 50    // one second of frames, repeated
	opusRate      = 48000 // Opus RTP clock and encoder rate (RFC 7587 section 4.1)
	opusFrame     = opusRate / 50
	pcmuFrame     = detectRate / 50
	maxOpusPacket = 1275 // RFC 6716 section 3.2.1
	ptOpus        = 111
	ptPCMU        = 0
)

// audioSource is the pre-encoded audio one call sends: framesPerLoop
// consecutive frames of its tone, which repeat seamlessly because the tone
// has a whole number of periods per second. tsStep is the RTP timestamp
// increment per frame.
type audioSource struct {
	pt     uint8
	tsStep uint32
	frames [][]byte
}

// newAudioSource encodes one second of a freq Hz tone for codec. For Opus
// it encodes two seconds with libopus at 48 kHz (20 ms frames, VOIP
// application, the way a browser encodes its microphone) and keeps the
// second, so that looping it continues the encoder's steady state instead
// of restarting from silence. Encoding ahead keeps the generator's own CPU
// low: libopus encoding at 48 kHz costs more than everything else it does.
func newAudioSource(codec string, freq int) (*audioSource, error) {
	switch codec {
	case codecPCMU:
		pcm := make([]int16, pcmuFrame)
		src := &audioSource{pt: ptPCMU, tsStep: pcmuFrame}
		tone := testaudio.NewTone(float64(freq), detectRate, toneAmplitude)
		for range framesPerLoop {
			tone.Fill(pcm)
			f := make([]byte, pcmuFrame)
			transcode.EncodePCMU(f, pcm)
			src.frames = append(src.frames, f)
		}

		return src, nil
	case codecOpus:
		enc, err := opus.NewEncoder(opusRate, 1, opus.AppVoIP)
		if err != nil {
			return nil, fmt.Errorf("loadgen: opus encoder: %w", err)
		}
		pcm := make([]int16, opusFrame)
		buf := make([]byte, maxOpusPacket)
		src := &audioSource{pt: ptOpus, tsStep: opusFrame}
		tone := testaudio.NewTone(float64(freq), opusRate, toneAmplitude)
		for k := range 2 * framesPerLoop {
			tone.Fill(pcm)
			n, err := enc.Encode(pcm, buf)
			if err != nil {
				return nil, fmt.Errorf("loadgen: opus encode: %w", err)
			}
			if k >= framesPerLoop {
				src.frames = append(src.frames, append([]byte(nil), buf[:n]...))
			}
		}

		return src, nil
	default:
		return nil, fmt.Errorf("%w %q", errCodec, codec)
	}
}

// errCodec reports a -codec value other than opus and pcmu.
var errCodec = errors.New("loadgen: unknown codec")

// decoder turns received payloads into 8 kHz samples for the tone
// detector: libopus decodes Opus directly at 8 kHz (the tones lie in the
// telephone band), G.711 is expanded per sample.
type decoder struct {
	opus *opus.Decoder
	pcm  []int16
}

// newDecoder returns the decoder of codec.
func newDecoder(codec string) (*decoder, error) {
	d := &decoder{pcm: make([]int16, detectRate*120/1000)} // longest Opus packet: 120 ms
	if codec == codecOpus {
		dec, err := opus.NewDecoder(detectRate, 1)
		if err != nil {
			return nil, fmt.Errorf("loadgen: opus decoder: %w", err)
		}
		d.opus = dec
	}

	return d, nil
}

// decode returns the samples of one payload, valid until the next call.
func (d *decoder) decode(payload []byte) ([]int16, error) {
	if d.opus == nil {
		if len(payload) > len(d.pcm) {
			payload = payload[:len(d.pcm)]
		}
		n := transcode.DecodePCMU(d.pcm, payload)

		return d.pcm[:n], nil
	}
	n, err := d.opus.Decode(payload, d.pcm)
	if err != nil {
		return nil, fmt.Errorf("loadgen: opus decode: %w", err)
	}

	return d.pcm[:n], nil
}

// txStream is the sending state of one call: its pacer, the RTP header it
// stamps, and where in the loop of frames it is.
type txStream struct {
	src   *audioSource
	pace  pacer
	pkt   rtp.Packet
	frame int
	sent  uint64
}

// newTxStream prepares a stream with initial sequence number and
// timestamp derived from seed (RFC 3550 section 5.1 wants them
// unpredictable; distinct per call is what matters here). The sender sets
// its pacer's start when it first serves it.
func newTxStream(src *audioSource, seed uint32) *txStream {
	s := &txStream{src: src, pace: pacer{interval: frameInterval, maxBurst: 3}}
	s.pkt.Header = rtp.Header{Version: 2, PayloadType: src.pt, SequenceNumber: uint16(seed), Timestamp: seed * 7, Marker: true}

	return s
}

// skip advances the stream by n frames without sending them: the sequence
// number is not advanced (nothing was lost on the wire), the timestamp is
// (the audio went on).
func (s *txStream) skip(n int) {
	s.pkt.Timestamp += uint32(n) * s.src.tsStep
	s.frame = (s.frame + n) % len(s.src.frames)
}

// next prepares the packet of the next frame; after writing it the caller
// calls advance.
func (s *txStream) next() *rtp.Packet {
	s.pkt.Payload = s.src.frames[s.frame]

	return &s.pkt
}

// advance moves past the frame just written.
func (s *txStream) advance() {
	s.pkt.SequenceNumber++
	s.pkt.Timestamp += s.src.tsStep
	s.pkt.Marker = false
	s.frame = (s.frame + 1) % len(s.src.frames)
	s.sent++
}
