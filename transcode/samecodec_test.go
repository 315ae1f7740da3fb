package transcode

import (
	"bytes"
	"math"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// Equal G.711 codecs on both legs: relayed by default, decoded and
// re-encoded with WithTranscodeSameCodec(true).

// g711Stream is the part of Uplink and Downlink these tests drive.
type g711Stream interface {
	Push(seq uint16, ts uint32, payload []byte) error
	Next(dst []byte) (n int, ts uint32, ok bool)
	MaxPayloadSize() int
	Stats() Stats
	String() string
}

// newSameCodecStream builds the Uplink (up true) or Downlink between in
// and out with opts.
func newSameCodecStream(t *testing.T, up bool, in, out telephony.Codec, opts ...Option) g711Stream {
	t.Helper()
	if up {
		u := mustUplink(t, in, out, opts...)
		return u
	}
	d := mustDownlink(t, in, out, opts...)
	return d
}

// encodeG711 encodes pcm in codec c.
func encodeG711(c telephony.Codec, pcm []int16) []byte {
	b := make([]byte, len(pcm))
	encodeFrame(b, pcm, c.IsPCMA())
	return b
}

// decodeG711 decodes b in codec c.
func decodeG711(c telephony.Codec, b []byte) []int16 {
	pcm := make([]int16, len(b))
	decodeFrame(pcm, b, c.IsPCMA())
	return pcm
}

func TestTranscodeSameCodecReencodesTone(t *testing.T) {
	const (
		packet = 240 // 30 ms packets in
		frame  = 160 // 20 ms frames out
		count  = 32  // 960 ms of input
		lost   = 10  // the index of the one lost packet
		freq   = 1000.0
		start  = 8000 // first input timestamp
	)
	tests := []struct {
		name    string
		up      bool
		in, out telephony.Codec
		desc    string
	}{
		{"uplink PCMU", true, telephony.PCMU, telephony.PCMU, "PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
		{"uplink PCMA", true, telephony.PCMA, telephony.PCMA, "PCMA/8000 decode -> PCMA re-encode, ptime 20ms"},
		{"downlink PCMU", false, telephony.PCMU, telephony.PCMU, "PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
		{"downlink PCMA, own payload type", false, telephony.PCMA.WithPayloadType(8), telephony.PCMA.WithPayloadType(8), "PCMA/8000 decode -> PCMA re-encode, ptime 20ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSameCodecStream(t, tc.up, tc.in, tc.out, WithTranscodeSameCodec(true))
			if got := s.String(); got != tc.desc {
				t.Errorf("String() = %q, want %q", got, tc.desc)
			}
			pcm := testaudio.Sine(freq, 8000, count*packet, 0.3)
			src := encodeG711(tc.in, pcm)
			var got []byte
			var tss []uint32
			for i := range count {
				if i == lost {
					continue
				}
				if err := s.Push(uint16(500+i), uint32(start+i*packet), src[i*packet:(i+1)*packet]); err != nil {
					t.Fatal(err)
				}
				for _, f := range drainWhole(t, s.Next, frame) {
					got = append(got, f.payload...)
					tss = append(tss, f.ts)
				}
			}
			want := Stats{Packets: count - 1, Frames: count * packet / frame, Concealed: 1}
			if st := s.Stats(); st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
			if len(got) != count*packet {
				t.Fatalf("%d bytes out, want %d", len(got), count*packet)
			}
			for i, ts := range tss {
				if w := uint32(start + i*frame); ts != w {
					t.Fatalf("frame %d: timestamp %d, want %d", i, ts, w)
				}
			}
			// The lost 30 ms is concealed with the tone, everything else is
			// the tone itself: G.711 decode and encode of an encoder's
			// output gives the same bytes, apart from the cross-fade back
			// into the packet after the gap (at most 10 ms).
			gap := decodeG711(tc.out, got[lost*packet:(lost+1)*packet])
			if f := dominantFrequency(gap, 8000, 100, 3900); math.Abs(f-freq) > 0.01*freq {
				t.Errorf("concealed gap heard at %.1f Hz, want %.0f Hz +-1%%", f, freq)
			}
			if d := testaudio.LevelDBFS(gap[:80]) - testaudio.LevelDBFS(pcm[:80]); math.Abs(d) > 1 {
				t.Errorf("first 10 ms of the gap %+.1f dB from the tone, want +-1 dB", d)
			}
			after := (lost+1)*packet + plcMaxReturn
			if !bytes.Equal(got[:lost*packet], src[:lost*packet]) || !bytes.Equal(got[after:], src[after:]) {
				t.Error("re-encoded audio differs from the input outside the gap")
			}
			heard := decodeG711(tc.out, got[(lost+1)*packet:])
			if f := dominantFrequency(heard, 8000, 100, 3900); math.Abs(f-freq) > 0.01*freq {
				t.Errorf("heard %.1f Hz, want %.0f Hz +-1%%", f, freq)
			}
			if rest := toneToRestDB(heard, 8000, freq); rest < 30 {
				t.Errorf("tone only %.1f dB above everything else, want 30 dB (G.711 quantisation)", rest)
			}
		})
	}
}

// TestTranscodeSameCodecDecodes proves which path a byte took: PCMU has
// two codes for zero, 0xFF and 0x7F (negative zero). Passthrough relays
// 0x7F; decoding and re-encoding turns it into 0xFF.
func TestTranscodeSameCodecDecodes(t *testing.T) {
	payload := bytes.Repeat([]byte{0x7f, 0x80, 0x00}, 160) // -0, +max, -max; 60 ms
	tests := []struct {
		name     string
		up       bool
		reencode bool
		first    byte
		desc     string
	}{
		{"uplink passthrough", true, false, 0x7f, "PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms"},
		{"uplink re-encoded", true, true, 0xff, "PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
		{"downlink passthrough", false, false, 0x7f, "PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms"},
		{"downlink re-encoded", false, true, 0xff, "PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSameCodecStream(t, tc.up, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(tc.reencode))
			if got := s.String(); got != tc.desc {
				t.Errorf("String() = %q, want %q", got, tc.desc)
			}
			if err := s.Push(1, 0, payload); err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte{tc.first, 0x80, 0x00}, 160)
			var got []byte
			for _, f := range drainFrames(s.Next, s.MaxPayloadSize()) {
				got = append(got, f.payload...)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output starts % x, want % x", got[:6], want[:6])
			}
			if st := s.Stats(); st != (Stats{Packets: 1, Frames: 3}) {
				t.Errorf("Stats = %+v, want 1 packet, 3 frames", st)
			}
		})
	}
}

// The option changes nothing where the codecs differ.
func TestTranscodeSameCodecOtherPaths(t *testing.T) {
	tests := []struct {
		name    string
		up      bool
		in, out telephony.Codec
	}{
		{"uplink Opus to PCMU", true, telephony.Opus, telephony.PCMU},
		{"uplink PCMU to PCMA", true, telephony.PCMU, telephony.PCMA},
		{"downlink PCMA to Opus", false, telephony.PCMA, telephony.Opus},
		{"downlink PCMA to PCMU", false, telephony.PCMA, telephony.PCMU},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			on := newSameCodecStream(t, tc.up, tc.in, tc.out, WithTranscodeSameCodec(true))
			off := newSameCodecStream(t, tc.up, tc.in, tc.out)
			if on.String() != off.String() {
				t.Errorf("String() with the option %q, without %q", on.String(), off.String())
			}
		})
	}
}
