package transcode

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// A trunk changing its G.711 codec mid-call (SetInput, SetOutput): the
// audio stays the same tone at the same level across each switch, the
// output timeline goes on without a jump, passthrough and transcoding
// take over from each other, and nothing allocates.

const (
	switchFreq = 1000.0 // Hz, the tone every switch test sends
	switchAmp  = 0.3    // of full scale: -13.5 dBFS
)

// trunkSegment is a run of trunk packets in one codec.
type trunkSegment struct {
	codec   telephony.Codec
	packets int
}

// trunkStream encodes a continuous tone as G.711 packets of packet samples,
// each segment in its codec: the tone's phase runs on across segments, as
// a trunk that switches codec between two packets sends it. It returns the
// payloads, the codec of each, and the tone as 8 kHz PCM.
func trunkStream(segments []trunkSegment, packet int) (payloads [][]byte, codecs []telephony.Codec, pcm []int16) {
	total := 0
	for _, s := range segments {
		total += s.packets
	}
	pcm = testaudio.Sine(switchFreq, 8000, total*packet, switchAmp)
	i := 0
	for _, s := range segments {
		for range s.packets {
			payloads = append(payloads, encodeG711(s.codec, pcm[i*packet:(i+1)*packet]))
			codecs = append(codecs, s.codec)
			i++
		}
	}
	return payloads, codecs, pcm
}

// canonical returns what a receiver decodes for the G.711 byte b of format
// from after it went through a converter to format to: decode, encode in
// to, decode. Passthrough gives the same value (G.711 decoding is exact on
// its own codes), so one expectation serves both paths.
func canonical(from, to telephony.Codec, b byte) int16 {
	v := decodeG711(from, []byte{b})
	return decodeG711(to, encodeG711(to, v))[0]
}

// toneWindowProblems checks every 40 ms window of pcm (8 kHz) from skip
// samples on: it must be the switch tone at its level, within 1.5 dB of
// the tone sent, with the tone 15 dB or more above everything else, so
// that a mis-decoded packet anywhere, at a switch above all, shows. It
// returns what is wrong and the number of windows checked.
func toneWindowProblems(pcm []int16, skip int) (problems []string, windows int) {
	const window, hop = 320, 160
	want := testaudio.LevelDBFS(testaudio.Sine(switchFreq, 8000, 8000, switchAmp))
	for start := skip; start+window <= len(pcm); start += hop {
		w := pcm[start : start+window]
		if l := testaudio.LevelDBFS(w); math.Abs(l-want) > 1.5 {
			problems = append(problems, fmt.Sprintf("at %d ms: level %.1f dBFS, sent %.1f dBFS", start/8, l, want))
		}
		if r := toneToRestDB(w, 8000, switchFreq); r < 15 {
			problems = append(problems, fmt.Sprintf("at %d ms: %.0f Hz tone only %.1f dB above everything else", start/8, switchFreq, r))
		}
		windows++
	}
	return problems, windows
}

// checkToneWindows fails t with the problems toneWindowProblems finds, and
// unless at least minWindows windows were checked.
func checkToneWindows(t *testing.T, pcm []int16, skip, minWindows int) {
	t.Helper()
	problems, n := toneWindowProblems(pcm, skip)
	for _, p := range problems {
		t.Error(p)
	}
	if n < minWindows {
		t.Fatalf("only %d windows checked, want %d", n, minWindows)
	}
}

func TestDownlinkSetInputKeepsToneToOpus(t *testing.T) {
	segments := []trunkSegment{{telephony.PCMU, 50}, {telephony.PCMA, 50}, {telephony.PCMU, 50}}
	payloads, codecs, _ := trunkStream(segments, 160)
	run := func(t *testing.T, follow bool) (heard []int16, tss []uint32, d *Downlink) {
		t.Helper()
		d = mustDownlink(t, telephony.PCMU, telephony.Opus)
		ear := newListener(t)
		for i, p := range payloads {
			if follow && codecs[i] != d.Input() {
				if err := d.SetInput(codecs[i]); err != nil {
					t.Fatalf("SetInput(%s): %v", codecs[i], err)
				}
			}
			if err := d.Push(uint16(100+i), uint32(4000+160*i), p); err != nil {
				t.Fatal(err)
			}
			h, ts := ear.drain(t, telephony.Opus, d.Next, d.MaxPayloadSize())
			heard, tss = append(heard, h...), append(tss, ts...)
		}
		return heard, tss, d
	}

	heard, tss, d := run(t, true)
	if len(tss) != len(payloads) {
		t.Fatalf("%d Opus frames for %d packets of 20 ms", len(tss), len(payloads))
	}
	for i := 1; i < len(tss); i++ {
		if tss[i] != tss[i-1]+960 {
			t.Fatalf("frame %d: timestamp %d after %d, want +960 (48 kHz, no jump at a switch)", i, tss[i], tss[i-1])
		}
	}
	checkToneWindows(t, heard, 1600, 130)
	want := Stats{Packets: len(payloads), Frames: len(payloads), Switches: 2}
	if st := d.Stats(); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if got := d.Input(); got != telephony.PCMU {
		t.Errorf("Input() = %s, want %s", got, telephony.PCMU)
	}

	// The same stream without following the switch is what the browser
	// heard before: the check above must catch it.
	stale, _, _ := run(t, false)
	if problems, _ := toneWindowProblems(stale, 1600); len(problems) == 0 {
		t.Error("A-law decoded as mu-law passed the tone check: the check proves nothing")
	}
}

func TestUplinkSetOutputKeepsToneFromOpus(t *testing.T) {
	const packets = 150
	enc := newBrowserEncoder(t)
	tone := testaudio.Sine(switchFreq, browserRate, packets*browserFrame, switchAmp)
	up := mustUplink(t, telephony.Opus.WithPayloadType(109), telephony.PCMU)
	// The trunk moves to A-law with payload type 8, then back.
	plan := map[int]telephony.Codec{50: telephony.PCMA, 100: telephony.PCMU}
	descs := map[string]string{
		"PCMU": "opus/48000 decode@8k (FEC, PLC) -> PCMU encode, ptime 20ms",
		"PCMA": "opus/48000 decode@8k (FEC, PLC) -> PCMA encode, ptime 20ms",
	}
	pkt := make([]byte, 1500)
	var heard []int16
	var tss []uint32
	var pts []uint8
	for i := range packets {
		if c, ok := plan[i]; ok {
			if err := up.SetOutput(c); err != nil {
				t.Fatalf("SetOutput(%s): %v", c, err)
			}
			if got := up.String(); got != descs[c.Name] {
				t.Errorf("after SetOutput(%s): String() = %q, want %q", c, got, descs[c.Name])
			}
		}
		n, err := enc.Encode(tone[i*browserFrame:(i+1)*browserFrame], pkt)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Push(uint16(60000+i), uint32(90000+browserFrame*i), pkt[:n]); err != nil {
			t.Fatal(err)
		}
		for _, f := range drainFrames(up.Next, up.MaxPayloadSize()) {
			out := up.Output()
			heard = append(heard, decodeG711(out, f.payload)...)
			tss = append(tss, f.ts)
			pts = append(pts, out.PayloadType)
		}
	}
	if len(tss) != packets {
		t.Fatalf("%d G.711 frames for %d packets of 20 ms", len(tss), packets)
	}
	for i := 1; i < len(tss); i++ {
		if tss[i] != tss[i-1]+160 {
			t.Fatalf("frame %d: timestamp %d after %d, want +160 (8 kHz, no jump at a switch)", i, tss[i], tss[i-1])
		}
	}
	for i, pt := range pts {
		want := uint8(0)
		if i >= 50 && i < 100 {
			want = 8
		}
		if pt != want {
			t.Fatalf("frame %d: payload type %d, want %d", i, pt, want)
		}
	}
	checkToneWindows(t, heard, 1600, 130)
	if st := up.Stats(); st.Switches != 2 || st.Restarts != 0 || st.PLC != 0 || st.Frames != packets {
		t.Errorf("Stats = %+v, want 2 switches, %d frames, no restart or concealment", st, packets)
	}
}

// A browser leg in G.711 relays the trunk's bytes while both speak the
// same codec and converts them while they do not. With 30 ms packets and
// 20 ms frames every switch finds part of a frame queued, which must come
// out in the new path unchanged: the output is compared sample by sample.
func TestSetTrunkPassthroughTransitions(t *testing.T) {
	const packet, frame, packets = 240, 160, 20
	pass := "PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms"
	tests := []struct {
		name     string
		up       bool
		reencode bool
		descs    []string // String after construction and after each switch
	}{
		{"downlink, browser PCMU", false, false, []string{pass, "PCMA/8000 decode -> PCMU encode, ptime 20ms", pass}},
		{"downlink, browser PCMU, same codec re-encoded", false, true, []string{
			"PCMU/8000 decode -> PCMU re-encode, ptime 20ms", "PCMA/8000 decode -> PCMU encode, ptime 20ms",
			"PCMU/8000 decode -> PCMU re-encode, ptime 20ms",
		}},
		{"uplink, browser PCMU", true, false, []string{pass, "PCMU/8000 decode -> PCMA encode, ptime 20ms", pass}},
		{"uplink, browser PCMU, same codec re-encoded", true, true, []string{
			"PCMU/8000 decode -> PCMU re-encode, ptime 20ms", "PCMU/8000 decode -> PCMA encode, ptime 20ms",
			"PCMU/8000 decode -> PCMU re-encode, ptime 20ms",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The trunk's codec: PCMU, then PCMA from packet 7, PCMU again
			// from packet 13 (each switch 10 ms into an output frame).
			trunkAt := func(i int) telephony.Codec {
				if i >= 7 && i < 13 {
					return telephony.PCMA
				}
				return telephony.PCMU
			}
			var s g711Stream
			var set func(telephony.Codec) error
			var in []byte
			if tc.up {
				u := newSameCodecStream(t, true, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(tc.reencode)).(*Uplink)
				s, set = u, u.SetOutput
				in = encodeG711(telephony.PCMU, testaudio.Sine(switchFreq, 8000, packets*packet, switchAmp))
			} else {
				d := newSameCodecStream(t, false, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(tc.reencode)).(*Downlink)
				s, set = d, d.SetInput
				pcm := testaudio.Sine(switchFreq, 8000, packets*packet, switchAmp)
				for i := range packets {
					in = append(in, encodeG711(trunkAt(i), pcm[i*packet:(i+1)*packet])...)
				}
			}
			if got := s.String(); got != tc.descs[0] {
				t.Errorf("String() = %q, want %q", got, tc.descs[0])
			}
			var outCodec []telephony.Codec // per output sample
			var outBytes []byte
			var tss []uint32
			switches := 0
			for i := range packets {
				if i > 0 && trunkAt(i) != trunkAt(i-1) {
					if err := set(trunkAt(i)); err != nil {
						t.Fatal(err)
					}
					switches++
					if got := s.String(); got != tc.descs[switches] {
						t.Errorf("after switch %d: String() = %q, want %q", switches, got, tc.descs[switches])
					}
				}
				if err := s.Push(uint16(i), uint32(packet*i), in[i*packet:(i+1)*packet]); err != nil {
					t.Fatal(err)
				}
				oc := telephony.PCMU
				if tc.up {
					oc = trunkAt(i)
				}
				for _, f := range drainWhole(t, s.Next, frame) {
					outCodec = append(outCodec, slices.Repeat([]telephony.Codec{oc}, frame)...)
					outBytes = append(outBytes, f.payload...)
					tss = append(tss, f.ts)
				}
			}
			if len(outBytes) != len(in) {
				t.Fatalf("%d samples out, %d in", len(outBytes), len(in))
			}
			for i, ts := range tss {
				if ts != uint32(frame*i) {
					t.Fatalf("frame %d: timestamp %d, want %d", i, ts, frame*i)
				}
			}
			for k, b := range in {
				inCodec := telephony.PCMU
				if !tc.up {
					inCodec = trunkAt(k / packet)
				}
				want := canonical(inCodec, outCodec[k], b)
				if got := decodeG711(outCodec[k], outBytes[k:k+1])[0]; got != want {
					t.Fatalf("sample %d (%s in, %s out): decoded %d, want %d", k, inCodec.Name, outCodec[k].Name, got, want)
				}
			}
			if st := s.Stats(); st.Switches != 2 || st.Silence != 0 || st.Restarts != 0 {
				t.Errorf("Stats = %+v, want 2 switches, no silence or restart", st)
			}
		})
	}
}
