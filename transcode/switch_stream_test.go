package transcode

import (
	"errors"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// A trunk's new RTP stream after a codec change, and the codecs a switch
// refuses.

// Many trunks start a new RTP stream (new SSRC, sequence number and
// timestamp) with the new codec. Its first packet follows the queued
// audio directly: no restart, no timestamp jump, no silence, no packet
// dropped as late. A packet lost at the switch in a continued stream is
// concealed as usual.
func TestDownlinkSetInputFollowsNewStream(t *testing.T) {
	tests := []struct {
		name string
		seq  uint16 // of the first PCMA packet
		ts   uint32
		lost int // packets lost at the switch, concealed
	}{
		{"same stream continues", 110, 4000 + 160*10, 0},
		{"new stream far ahead", 30000, 3_000_000_000, 0},
		{"new stream far behind", 50, 10, 0},
		{"new stream, sequence just behind", 105, 777, 0},
		{"same stream, one packet lost at the switch", 111, 4000 + 160*11, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDownlink(t, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(true))
			payloads, codecs, _ := trunkStream([]trunkSegment{{telephony.PCMU, 10}, {telephony.PCMA, 10}}, 160)
			var tss []uint32
			var heard []int16
			for i, p := range payloads {
				seq, ts := uint16(100+i), uint32(4000+160*i)
				if i >= 10 {
					seq, ts = tc.seq+uint16(i-10), tc.ts+uint32(160*(i-10))
				}
				if i == 10 {
					if err := d.SetInput(codecs[i]); err != nil {
						t.Fatal(err)
					}
				}
				if err := d.Push(seq, ts, p); err != nil {
					t.Fatal(err)
				}
				for _, f := range drainFrames(d.Next, d.MaxPayloadSize()) {
					tss = append(tss, f.ts)
					heard = append(heard, decodeG711(telephony.PCMU, f.payload)...)
				}
			}
			if want := len(payloads) + tc.lost; len(tss) != want {
				t.Fatalf("%d frames out, want %d", len(tss), want)
			}
			for i := 1; i < len(tss); i++ {
				if tss[i] != tss[i-1]+160 {
					t.Fatalf("frame %d: timestamp %d after %d: the output jumped", i, tss[i], tss[i-1])
				}
			}
			st := d.Stats()
			if st.Restarts != 0 || st.Late != 0 || st.Duplicates != 0 || st.Silence != 0 || st.Concealed != tc.lost || st.Packets != len(payloads) {
				t.Errorf("Stats = %+v, want all %d packets decoded, %d concealed, no restart", st, len(payloads), tc.lost)
			}
			// The concealed packet, if any, is not silence.
			silent := 0
			for i := 0; i+160 <= len(heard); i += 160 {
				if testaudio.LevelDBFS(heard[i:i+160]) < -60 {
					silent++
				}
			}
			if silent != 0 {
				t.Errorf("%d silent frames, want none", silent)
			}
		})
	}
}

// checkRefusedSwitch calls set (the method named method of p) with c and
// fails unless it returns ErrUnsupportedCodec and leaves p as it was: the
// trunk codec current reports (PCMU in these tests), the description and
// no switch counted.
func checkRefusedSwitch(t *testing.T, p interface {
	String() string
	Stats() Stats
}, method string, set func(telephony.Codec) error, current func() telephony.Codec, c telephony.Codec) {
	t.Helper()
	desc := p.String()
	if err := set(c); !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("%s(%s) = %v, want ErrUnsupportedCodec", method, c, err)
	}
	if current() != telephony.PCMU || p.String() != desc || p.Stats().Switches != 0 {
		t.Fatalf("refused switch changed the %T: trunk codec %s, %q", p, current(), p.String())
	}
}

func TestSetTrunkRefusesOtherCodecs(t *testing.T) {
	bad := []telephony.Codec{
		telephony.Opus,
		telephony.TelephoneEvent8k,
		{Name: "PCMU", ClockRate: 16000, Channels: 1, PayloadType: 0},
		{Name: "PCMA", ClockRate: 8000, Channels: 2, PayloadType: 8},
		{Name: "G722", ClockRate: 8000, Channels: 1, PayloadType: 9},
	}
	for _, c := range bad {
		t.Run("downlink to "+c.String(), func(t *testing.T) {
			d := mustDownlink(t, telephony.PCMU, telephony.Opus)
			checkRefusedSwitch(t, d, "SetInput", d.SetInput, d.Input, c)
			// Still decoding mu-law into Opus.
			checkToneWindows(t, downlinkTone(t, d, telephony.PCMU, 25), 1600, 10)
		})
		t.Run("uplink to "+c.String(), func(t *testing.T) {
			u := mustUplink(t, telephony.PCMA, telephony.PCMU)
			checkRefusedSwitch(t, u, "SetOutput", u.SetOutput, u.Output, c)
			pcm := testaudio.Sine(switchFreq, 8000, 160, switchAmp)
			if err := u.Push(1, 0, encodeG711(telephony.PCMA, pcm)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, u.MaxPayloadSize())
			n, _, ok := u.Next(buf)
			if !ok {
				t.Fatal("no frame after the refused switch")
			}
			for k, b := range buf[:n] {
				if got, want := decodeG711(telephony.PCMU, []byte{b})[0], canonical(telephony.PCMA, telephony.PCMU, encodeG711(telephony.PCMA, pcm[k:k+1])[0]); got != want {
					t.Fatalf("sample %d: %d, want %d (A-law to mu-law)", k, got, want)
				}
			}
		})
	}
}

// downlinkTone pushes packets 20 ms packets of the switch tone in codec c
// through d, continuing its numbering, and returns the Opus output
// decoded at 8 kHz.
func downlinkTone(t *testing.T, d *Downlink, c telephony.Codec, packets int) []int16 {
	t.Helper()
	ear := newListener(t)
	payloads, _, _ := trunkStream([]trunkSegment{{c, packets}}, 160)
	var heard []int16
	for i, p := range payloads {
		if err := d.Push(uint16(i), uint32(160*i), p); err != nil {
			t.Fatal(err)
		}
		h, _ := ear.drain(t, telephony.Opus, d.Next, d.MaxPayloadSize())
		heard = append(heard, h...)
	}
	return heard
}
