package transcode

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

func TestDownlinkPtimesToOpus(t *testing.T) {
	tests := []struct {
		name   string
		in     telephony.Codec
		ms     int // input ptime
		lose   map[int]bool
		frames int // output frames for 300 ms of input
		stats  Stats
	}{
		{"PCMU 10 ms", telephony.PCMU, 10, nil, 15, Stats{Packets: 30, Frames: 15}},
		{"PCMA 20 ms", telephony.PCMA, 20, nil, 15, Stats{Packets: 15, Frames: 15}},
		{"PCMU 30 ms", telephony.PCMU, 30, nil, 15, Stats{Packets: 10, Frames: 15}},
		{"PCMU 20 ms, two lost", telephony.PCMU, 20, map[int]bool{3: true, 7: true}, 15, Stats{Packets: 13, Frames: 15, Concealed: 2}},
		{"PCMA 30 ms, one lost", telephony.PCMA, 30, map[int]bool{4: true}, 15, Stats{Packets: 9, Frames: 15, Concealed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			down := mustDownlink(t, tc.in, telephony.Opus.WithPayloadType(109))
			dec, err := opus.NewDecoder(48000, 1)
			if err != nil {
				t.Fatal(err)
			}
			pcm := testaudio.Sine(600, 8000, 2400, 0.3)
			payload := make([]byte, 2400)
			if tc.in.IsPCMA() {
				EncodePCMA(payload, pcm)
			} else {
				EncodePCMU(payload, pcm)
			}
			per := tc.ms * 8
			out := make([]int16, 5760)
			var tss []uint32
			for i := 0; i*per < len(payload); i++ {
				if tc.lose[i] {
					continue
				}
				if err := down.Push(uint16(100+i), uint32(4000+i*per), payload[i*per:(i+1)*per]); err != nil {
					t.Fatal(err)
				}
				for _, f := range drainFrames(down.Next, down.MaxPayloadSize()) {
					var p OpusPacket
					if err := p.Parse(f.payload); err != nil {
						t.Fatalf("downlink produced a malformed Opus packet: %v", err)
					}
					if p.Samples48k() != 960 {
						t.Errorf("Opus packet of %d samples, want 960 (20 ms)", p.Samples48k())
					}
					if m, err := dec.Decode(f.payload, out); err != nil || m != 960 {
						t.Fatalf("browser decode: %d samples, %v", m, err)
					}
					tss = append(tss, f.ts)
				}
			}
			if len(tss) != tc.frames {
				t.Errorf("%d Opus frames, want %d", len(tss), tc.frames)
			}
			for i, ts := range tss {
				if want := uint32(4000*6 + i*960); ts != want {
					t.Fatalf("frame %d: timestamp %d, want %d (48 kHz clock)", i, ts, want)
				}
			}
			if got := down.Stats(); got != tc.stats {
				t.Errorf("stats %+v, want %+v", got, tc.stats)
			}
		})
	}
}

func TestDownlinkPassthrough(t *testing.T) {
	tests := []struct {
		name  string
		lost  int // index of the lost 30 ms packet
		stats Stats
	}{
		// 60 ms of audio before the gap: it is concealed.
		{"3rd lost, concealed", 2, Stats{Packets: 3, Frames: 6, Concealed: 1}},
		// Only 30 ms before the gap, too little to conceal from: silence.
		{"2nd lost, silence", 1, Stats{Packets: 3, Frames: 6, Silence: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pcm := testaudio.Sine(600, 8000, 960, 0.3)
			src := make([]byte, 960)
			EncodePCMU(src, pcm)
			down := mustDownlink(t, telephony.PCMU, telephony.PCMU.WithPayloadType(0))
			var got []byte
			var tss []uint32
			// 30 ms packets, one lost: re-chunked to 20 ms.
			for i := range 4 {
				if i == tc.lost {
					continue
				}
				if err := down.Push(uint16(i), uint32(i*240), src[i*240:i*240+240]); err != nil {
					t.Fatal(err)
				}
				for _, f := range drainFrames(down.Next, down.MaxPayloadSize()) {
					got = append(got, f.payload...)
					tss = append(tss, f.ts)
				}
			}
			if len(got) != 960 {
				t.Fatalf("%d bytes out, want 960", len(got))
			}
			gapAt := tc.lost * 240
			if string(got[:gapAt]) != string(src[:gapAt]) {
				t.Error("audio before the gap not relayed byte for byte")
			}
			// After the cross-fade back from the concealment (at most
			// 10 ms), the packet after the gap is relayed byte for byte.
			if after := gapAt + 240 + plcMaxReturn; string(got[after:]) != string(src[after:]) {
				t.Error("audio after the gap not relayed byte for byte")
			}
			gap := got[gapAt : gapAt+240]
			if tc.stats.Silence > 0 {
				for i, b := range gap {
					if b != 0xFF {
						t.Fatalf("lost interval byte %d is %#x, want PCMU silence 0xFF", i, b)
					}
				}
			} else {
				heard := make([]int16, 240)
				DecodePCMU(heard, gap)
				if f := dominantFrequency(heard, 8000, 100, 3900); math.Abs(f-600) > 12 {
					t.Errorf("concealed gap heard at %.1f Hz, want 600 Hz", f)
				}
				// 10 ms at full level, then attenuated by 20% per 10 ms.
				if d := testaudio.LevelDBFS(heard[:80]) - testaudio.LevelDBFS(pcm[:80]); math.Abs(d) > 1 {
					t.Errorf("first 10 ms of the gap %+.1f dB from the tone, want +-1 dB", d)
				}
			}
			if st := down.Stats(); st != tc.stats {
				t.Errorf("Stats = %+v, want %+v", st, tc.stats)
			}
			for i, ts := range tss {
				if ts != uint32(i*160) {
					t.Fatalf("frame %d timestamp %d, want %d", i, ts, i*160)
				}
			}
		})
	}
}

func TestDownlinkRejects(t *testing.T) {
	down := mustDownlink(t, telephony.PCMA, telephony.Opus)
	for _, tc := range []struct {
		name    string
		payload []byte
	}{{"empty", nil}, {"over 120 ms", make([]byte, 961)}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := down.Push(1, 0, tc.payload); !errors.Is(err, ErrMalformedPacket) {
				t.Errorf("error %v, want ErrMalformedPacket", err)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		in, out telephony.Codec
		opts    []Option
		err     error
	}{
		{"Opus from trunk", telephony.Opus, telephony.Opus, nil, ErrUnsupportedCodec},
		{"Opus ptime 30", telephony.PCMU, telephony.Opus, []Option{WithPtime(30 * time.Millisecond)}, ErrInvalidOption},
		{"bitrate", telephony.PCMU, telephony.Opus, []Option{WithOpusBitrate(1000)}, ErrInvalidOption},
		{"complexity", telephony.PCMU, telephony.Opus, []Option{WithOpusComplexity(11)}, ErrInvalidOption},
		{"loss", telephony.PCMU, telephony.Opus, []Option{WithOpusExpectedLoss(-1)}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewDownlink(tc.in, tc.out, tc.opts...); !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}
