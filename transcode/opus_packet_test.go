package transcode

import (
	"errors"
	"testing"
	"time"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

func TestOpusPacketParse(t *testing.T) {
	big := make([]byte, 1+1276)
	tests := []struct {
		name    string
		pkt     []byte
		err     error
		frames  int
		samples int
		mode    OpusMode
		lens    []int
	}{
		{"code 0 SILK NB 20ms", []byte{1 << 3, 1, 2, 3}, nil, 1, 960, OpusModeSILK, []int{3}},
		{"code 0 DTX frame", []byte{1 << 3}, nil, 1, 960, OpusModeSILK, []int{0}},
		{"code 0 SILK 60ms", []byte{3 << 3, 9}, nil, 1, 2880, OpusModeSILK, []int{1}},
		{"code 0 hybrid FB 20ms stereo", []byte{15<<3 | 4, 1}, nil, 1, 960, OpusModeHybrid, []int{1}},
		{"code 0 CELT 2.5ms", []byte{16 << 3, 1}, nil, 1, 120, OpusModeCELT, []int{1}},
		{"code 1 two equal", []byte{1<<3 | 1, 1, 2, 3, 4}, nil, 2, 1920, OpusModeSILK, []int{2, 2}},
		{"code 1 odd", []byte{1<<3 | 1, 1, 2, 3}, errOpusCode1Odd, 0, 0, 0, nil},
		{"code 2 short length", []byte{1<<3 | 2, 2, 9, 9, 7}, nil, 2, 1920, OpusModeSILK, []int{2, 1}},
		{"code 2 two-byte length", append([]byte{1<<3 | 2, 252, 1}, make([]byte, 256+3)...), nil, 2, 1920, OpusModeSILK, []int{256, 3}},
		{"code 2 length past end", []byte{1<<3 | 2, 5, 1}, errOpusTruncated, 0, 0, 0, nil},
		{"code 2 missing length", []byte{1<<3 | 2}, errOpusTruncated, 0, 0, 0, nil},
		{"code 3 CBR 3 frames", []byte{1<<3 | 3, 3, 1, 2, 3}, nil, 3, 2880, OpusModeSILK, []int{1, 1, 1}},
		{"code 3 CBR uneven", []byte{1<<3 | 3, 3, 1, 2}, errOpusCBR, 0, 0, 0, nil},
		{"code 3 zero frames", []byte{1<<3 | 3, 0}, errOpusFrameCount, 0, 0, 0, nil},
		{"code 3 over 120ms", []byte{3<<3 | 3, 3, 1, 1, 1}, errOpusFrameCount, 0, 0, 0, nil},
		{"code 3 48 CELT 2.5ms", append([]byte{16<<3 | 3, 48}, make([]byte, 48)...), nil, 48, 5760, OpusModeCELT, nil},
		{"code 3 VBR", []byte{1<<3 | 3, 0x80 | 3, 1, 2, 7, 8, 8, 9, 9, 9}, nil, 3, 2880, OpusModeSILK, []int{1, 2, 3}},
		{"code 3 VBR lengths too long", []byte{1<<3 | 3, 0x80 | 2, 9, 1}, errOpusTruncated, 0, 0, 0, nil},
		{"code 3 padding", []byte{1<<3 | 3, 0x40 | 1, 2, 5, 0, 0}, nil, 1, 960, OpusModeSILK, []int{1}},
		{"code 3 padding 255 chain", append([]byte{1<<3 | 3, 0x40 | 1, 255, 0, 7}, make([]byte, 254)...), nil, 1, 960, OpusModeSILK, []int{1}},
		{"code 3 padding past end", []byte{1<<3 | 3, 0x40 | 1, 9, 1}, errOpusPadding, 0, 0, 0, nil},
		{"code 3 padding bytes missing", []byte{1<<3 | 3, 0x40 | 1}, errOpusPadding, 0, 0, 0, nil},
		{"code 3 no count byte", []byte{1<<3 | 3}, errOpusTruncated, 0, 0, 0, nil},
		{"empty", nil, errOpusEmpty, 0, 0, 0, nil},
		{"frame over 1275 bytes", big, errOpusFrameLen, 0, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p OpusPacket
			err := p.Parse(tc.pkt)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse error %v, want %v", err, tc.err)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedPacket) {
					t.Errorf("error %v does not wrap ErrMalformedPacket", err)
				}
				if p.FrameCount != 0 {
					t.Errorf("failed parse left %d frames", p.FrameCount)
				}
				return
			}
			if p.FrameCount != tc.frames || p.Samples48k() != tc.samples || p.Mode() != tc.mode {
				t.Errorf("got %d frames, %d samples, %v; want %d, %d, %v", p.FrameCount, p.Samples48k(), p.Mode(), tc.frames, tc.samples, tc.mode)
			}
			for i, n := range tc.lens {
				if got := len(p.FrameData(tc.pkt, i)); got != n {
					t.Errorf("frame %d: %d bytes, want %d", i, got, n)
				}
			}
			if p.FrameData(tc.pkt, p.FrameCount) != nil {
				t.Error("FrameData past the last frame is not nil")
			}
		})
	}
}

// TestOpusPacketMatchesLibopus checks the parsed duration against what
// libopus decodes, for every frame size its encoder produces.
func TestOpusPacketMatchesLibopus(t *testing.T) {
	for _, ms := range []float64{2.5, 5, 10, 20, 40, 60} {
		for _, app := range []opus.Application{opus.AppVoIP, opus.AppAudio} {
			name := time.Duration(ms * float64(time.Millisecond)).String()
			t.Run(name, func(t *testing.T) {
				enc, err := opus.NewEncoder(48000, 1, app)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := opus.NewDecoder(48000, 1)
				if err != nil {
					t.Fatal(err)
				}
				n := int(ms * 48)
				pcm := testaudio.Sine(700, 48000, n, 0.3)
				buf := make([]byte, 1500)
				out := make([]int16, 5760)
				for range 5 {
					m, err := enc.Encode(pcm, buf)
					if err != nil {
						t.Fatal(err)
					}
					var p OpusPacket
					if err := p.Parse(buf[:m]); err != nil {
						t.Fatalf("libopus packet rejected: %v", err)
					}
					got, err := dec.Decode(buf[:m], out)
					if err != nil {
						t.Fatal(err)
					}
					if p.Samples48k() != n || got != n {
						t.Errorf("parsed %d samples, libopus decoded %d, encoded %d", p.Samples48k(), got, n)
					}
				}
			})
		}
	}
}

// TestOpusHasFEC checks the LBRR flag reader against libopus itself: two
// decoders fed the same packets conceal a pretended loss, one by PLC, one
// by FEC from the next packet. Every packet flagged must make libopus
// produce different (recovered) audio; without FEC in the stream nothing
// is flagged and both decoders agree. (With FEC on, an unflagged packet may
// still differ slightly: libopus applies its bandwidth before concealing.)
func TestOpusHasFEC(t *testing.T) {
	tests := []struct {
		name    string
		fec     bool
		wantFEC bool
	}{
		{"encoder FEC on", true, true},
		{"encoder FEC off", false, false},
	}
	speech := speechSample(t, "Forward error correction protects the call.", 48000)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := newBrowserEncoder(t)
			if err := enc.SetInBandFEC(tc.fec); err != nil {
				t.Fatal(err)
			}
			decA, _ := opus.NewDecoder(8000, 1)
			decB, _ := opus.NewDecoder(8000, 1)
			buf := make([]byte, 1500)
			a, b := make([]int16, 160), make([]int16, 160)
			var withFEC, differ, frames int
			for i := 0; i+960 <= len(speech); i += 960 {
				n, err := enc.Encode(speech[i:i+960], buf)
				if err != nil {
					t.Fatal(err)
				}
				pkt := buf[:n]
				var p OpusPacket
				if err := p.Parse(pkt); err != nil {
					t.Fatal(err)
				}
				has := p.HasFEC(pkt)
				if i/960%4 == 3 { // pretend the previous packet was lost
					_ = decA.DecodePLC(a)
					_ = decB.DecodeFEC(pkt, b)
					same := equalPCM(a, b)
					switch {
					case has && same:
						t.Errorf("packet %d: FEC flag set, yet libopus concealed it as plain PLC", i/960)
					case has:
						differ++
					case !tc.fec && !same:
						t.Errorf("packet %d: encoder without FEC, yet FEC decoding differs from PLC", i/960)
					}
					frames++
				}
				if has {
					withFEC++
				}
				if _, err := decA.Decode(pkt, a); err != nil {
					t.Fatal(err)
				}
				if _, err := decB.Decode(pkt, b); err != nil {
					t.Fatal(err)
				}
			}
			if tc.wantFEC && (withFEC == 0 || differ == 0) {
				t.Errorf("FEC on: %d packets flagged, %d FEC recoveries differed from PLC", withFEC, differ)
			}
			if !tc.wantFEC && withFEC != 0 {
				t.Errorf("FEC off: %d packets flagged", withFEC)
			}
			t.Logf("%d packets with FEC, %d of %d checked recoveries used it", withFEC, differ, frames)
		})
	}
}

func equalPCM(a, b []int16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
