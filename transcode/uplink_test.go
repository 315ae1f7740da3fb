package transcode

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// opusPackets encodes n packets of ms milliseconds each of a 500 Hz tone
// with a browser-like 48 kHz encoder.
func opusPackets(tb testing.TB, n int, ms int) [][]byte {
	tb.Helper()
	// libopus picks the frame size from the input length.
	enc := newBrowserEncoder(tb)
	samples := ms * 48
	pcm := testaudio.Sine(500, browserRate, n*samples, 0.3)
	out := make([][]byte, n)
	buf := make([]byte, 1500)
	for i := range out {
		m, err := enc.Encode(pcm[i*samples:(i+1)*samples], buf)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = append([]byte(nil), buf[:m]...)
	}
	return out
}

// step is one input packet of a scripted stream.
type step struct {
	seq uint16
	ts  uint32
	pkt int // index into the packets; -1 for a malformed payload
}

// drainTS pulls every pending frame, each of want bytes, and returns
// their timestamps.
func drainTS(t *testing.T, next func([]byte) (int, uint32, bool), want int) []uint32 {
	t.Helper()
	var tss []uint32
	for _, f := range drainWhole(t, next, want) {
		tss = append(tss, f.ts)
	}
	return tss
}

func TestUplinkSequencing(t *testing.T) {
	pk := opusPackets(t, 20, 20)
	tests := []struct {
		name    string
		steps   []step
		wantTS  []uint32 // output timestamps at 8 kHz
		want    Stats
		wantErr int // number of Push errors
	}{
		{
			name:   "in order",
			steps:  []step{{10, 9600, 0}, {11, 10560, 1}, {12, 11520, 2}},
			wantTS: []uint32{1600, 1760, 1920},
			want:   Stats{Packets: 3, Frames: 3},
		},
		{
			name:   "duplicate dropped",
			steps:  []step{{10, 9600, 0}, {10, 9600, 0}, {11, 10560, 1}},
			wantTS: []uint32{1600, 1760},
			want:   Stats{Packets: 2, Frames: 2, Duplicates: 1},
		},
		{
			name:   "reordered late packet dropped after concealment",
			steps:  []step{{10, 9600, 0}, {12, 11520, 2}, {11, 10560, 1}, {13, 12480, 3}},
			wantTS: []uint32{1600, 1760, 1920, 2080},
			want:   Stats{Packets: 3, Frames: 4, FEC: 1, Late: 1},
		},
		{
			name:   "two lost: PLC then FEC",
			steps:  []step{{10, 9600, 0}, {11, 10560, 1}, {14, 13440, 4}},
			wantTS: []uint32{1600, 1760, 1920, 2080, 2240},
			want:   Stats{Packets: 3, Frames: 5, FEC: 1, PLC: 1},
		},
		{
			name:   "gap over 100 ms restarts with a timestamp jump",
			steps:  []step{{10, 9600, 0}, {11, 10560, 1}, {30, 10560 + 19*960, 2}, {31, 10560 + 20*960, 3}},
			wantTS: []uint32{1600, 1760, 1760 + 19*160, 1760 + 20*160},
			want:   Stats{Packets: 4, Frames: 4, Restarts: 1},
		},
		{
			name:   "far sequence jump needs a second packet",
			steps:  []step{{1000, 9600, 0}, {1001, 10560, 1}, {500, 90000, 2}, {501, 90960, 3}, {502, 91920, 4}},
			wantTS: []uint32{1600, 1760, 1920, 2080},
			want:   Stats{Packets: 4, Frames: 4, Late: 1, Restarts: 1},
		},
		{
			name:   "sequence wraps",
			steps:  []step{{65534, 9600, 0}, {65535, 10560, 1}, {0, 11520, 2}, {1, 12480, 3}},
			wantTS: []uint32{1600, 1760, 1920, 2080},
			want:   Stats{Packets: 4, Frames: 4},
		},
		{
			name:    "malformed packet rejected",
			steps:   []step{{10, 9600, 0}, {11, 10560, -1}, {12, 11520, 2}},
			wantTS:  []uint32{1600, 1760, 1920},
			want:    Stats{Packets: 2, Frames: 3, FEC: 1, Malformed: 1},
			wantErr: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := mustUplink(t, telephony.Opus, telephony.PCMU)
			var tss []uint32
			var errs int
			for _, s := range tc.steps {
				payload := []byte{1<<3 | 1, 1, 2, 3} // code 1 with odd length
				if s.pkt >= 0 {
					payload = pk[s.pkt]
				}
				if err := up.Push(s.seq, s.ts, payload); err != nil {
					if !errors.Is(err, ErrMalformedPacket) {
						t.Errorf("Push error %v does not wrap ErrMalformedPacket", err)
					}
					errs++
				}
				tss = append(tss, drainTS(t, up.Next, 160)...)
			}
			if errs != tc.wantErr {
				t.Errorf("%d Push errors, want %d", errs, tc.wantErr)
			}
			if !equalTS(tss, tc.wantTS) {
				t.Errorf("timestamps %v, want %v", tss, tc.wantTS)
			}
			if got := up.Stats(); got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
		})
	}
}

func equalTS(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUplinkRechunksPacketSizes(t *testing.T) {
	tests := []struct {
		name   string
		ms     int
		ptime  time.Duration
		frames int // output frames for 12 packets
	}{
		{"10 ms packets to 20 ms", 10, 20 * time.Millisecond, 6},
		{"20 ms packets to 20 ms", 20, 20 * time.Millisecond, 12},
		{"40 ms packets to 20 ms", 40, 20 * time.Millisecond, 24},
		{"60 ms packets to 20 ms", 60, 20 * time.Millisecond, 36},
		{"20 ms packets to 30 ms", 20, 30 * time.Millisecond, 8},
		{"60 ms packets to 10 ms", 60, 10 * time.Millisecond, 72},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk := opusPackets(t, 12, tc.ms)
			up := mustUplink(t, telephony.Opus, telephony.PCMA, WithPtime(tc.ptime))
			frameBytes := int(tc.ptime / time.Millisecond * 8)
			if up.MaxPayloadSize() != frameBytes {
				t.Errorf("MaxPayloadSize %d, want %d", up.MaxPayloadSize(), frameBytes)
			}
			var tss []uint32
			for i, p := range pk {
				if err := up.Push(uint16(i), uint32(i*tc.ms*48), p); err != nil {
					t.Fatal(err)
				}
				tss = append(tss, drainTS(t, up.Next, frameBytes)...)
			}
			if len(tss) != tc.frames {
				t.Fatalf("%d frames, want %d", len(tss), tc.frames)
			}
			for i := 1; i < len(tss); i++ {
				if tss[i]-tss[i-1] != uint32(frameBytes) {
					t.Fatalf("timestamp step %d, want %d", tss[i]-tss[i-1], frameBytes)
				}
			}
		})
	}
}

func TestUplinkPassthroughAndConversion(t *testing.T) {
	pcm := testaudio.Sine(800, 8000, 480, 0.3)
	ulaw := make([]byte, 480)
	EncodePCMU(ulaw, pcm)
	alaw := make([]byte, 480)
	EncodePCMA(alaw, pcm)
	tests := []struct {
		name     string
		in, out  telephony.Codec
		want     []byte
		describe string
	}{
		{"PCMU relayed untouched", telephony.PCMU, telephony.PCMU, ulaw, "passthrough"},
		{"PCMA relayed untouched", telephony.PCMA.WithPayloadType(8), telephony.PCMA, alaw, "passthrough"},
		{"PCMU converted to PCMA", telephony.PCMU, telephony.PCMA, alaw, "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := mustUplink(t, tc.in, tc.out)
			if !strings.Contains(up.String(), tc.describe) {
				t.Errorf("String() = %q, want it to mention %q", up.String(), tc.describe)
			}
			src := ulaw
			if tc.in.IsPCMA() {
				src = alaw
			}
			// 30 ms packets in, 20 ms frames out.
			var got []byte
			for i := 0; i < 2; i++ {
				if err := up.Push(uint16(i), uint32(i*240), src[i*240:(i+1)*240]); err != nil {
					t.Fatal(err)
				}
				for _, f := range drainFrames(up.Next, up.MaxPayloadSize()) {
					got = append(got, f.payload...)
				}
			}
			if string(got) != string(tc.want) {
				t.Errorf("output differs from expected G.711 (%d bytes vs %d)", len(got), len(tc.want))
			}
		})
	}
}

func TestNewUplinkRejects(t *testing.T) {
	tests := []struct {
		name    string
		in, out telephony.Codec
		opts    []Option
		err     error
	}{
		{"Opus to trunk", telephony.Opus, telephony.Opus, nil, ErrUnsupportedCodec},
		{"unknown input", telephony.Codec{Name: "G722", ClockRate: 8000}, telephony.PCMU, nil, ErrUnsupportedCodec},
		{"ptime 25 ms", telephony.Opus, telephony.PCMU, []Option{WithPtime(25 * time.Millisecond)}, ErrInvalidOption},
		{"ptime 70 ms", telephony.Opus, telephony.PCMU, []Option{WithPtime(70 * time.Millisecond)}, ErrInvalidOption},
		{"max gap 5 ms", telephony.Opus, telephony.PCMU, []Option{WithMaxGap(5 * time.Millisecond)}, ErrInvalidOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewUplink(tc.in, tc.out, tc.opts...); !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}
