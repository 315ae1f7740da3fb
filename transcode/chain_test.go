package transcode

import (
	"testing"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/telephony"
)

// The chain harness plays the browser on one side and the trunk on the
// other: a 48 kHz Opus encoder as the browser's microphone, the Uplink, the
// trunk receiving G.711, the same G.711 sent back through the Downlink, and
// a 48 kHz Opus decoder as the browser's speaker.

const (
	browserRate  = 48000
	browserFrame = 960 // 20 ms at 48 kHz
)

// newBrowserEncoder returns an Opus encoder configured like a WebRTC
// browser: 48 kHz mono, VOIP, in-band FEC for 10% loss, 32 kbit/s.
func newBrowserEncoder(tb testing.TB) *opus.Encoder {
	tb.Helper()
	enc, err := opus.NewEncoder(browserRate, 1, opus.AppVoIP)
	if err != nil {
		tb.Fatal(err)
	}
	for _, err := range []error{enc.SetBitrate(32000), enc.SetInBandFEC(true), enc.SetPacketLossPerc(10)} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return enc
}

// trunkFrame is one G.711 frame as the trunk received it.
type trunkFrame struct {
	ts      uint32
	payload []byte
}

// chainResult is what came out of each leg.
type chainResult struct {
	trunk   []trunkFrame // uplink output in order
	trunkPC []int16      // uplink output decoded (8 kHz)
	browser []int16      // downlink output decoded by the browser (48 kHz)
	up      Stats
	down    Stats
}

// runChain sends in (48 kHz PCM, whole 20 ms frames) through the browser
// encoder, the Uplink (dropping the packets for which lose returns true),
// then back through the Downlink and a browser decoder.
func runChain(t *testing.T, in []int16, trunk telephony.Codec, lose func(i int) bool) chainResult {
	t.Helper()
	enc := newBrowserEncoder(t)
	up := mustUplink(t, telephony.Opus, trunk)
	down := mustDownlink(t, trunk, telephony.Opus)
	dec, err := opus.NewDecoder(browserRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	var res chainResult
	pkt := make([]byte, 1500)
	g711 := make([]byte, up.MaxPayloadSize())
	opusOut := make([]byte, down.MaxPayloadSize())
	pcm8 := make([]int16, 960)
	pcm48 := make([]int16, 5760)
	var downSeq uint16
	for i := 0; i+browserFrame <= len(in); i += browserFrame {
		n, err := enc.Encode(in[i:i+browserFrame], pkt)
		if err != nil {
			t.Fatal(err)
		}
		idx := i / browserFrame
		if lose != nil && lose(idx) {
			continue
		}
		if err := up.Push(uint16(1000+idx), uint32(5000+idx*browserFrame), pkt[:n]); err != nil {
			t.Fatalf("uplink push %d: %v", idx, err)
		}
		for {
			gn, ts, ok := up.Next(g711)
			if !ok {
				break
			}
			f := trunkFrame{ts: ts, payload: append([]byte(nil), g711[:gn]...)}
			res.trunk = append(res.trunk, f)
			dn := DecodePCMU(pcm8, f.payload)
			if trunk.IsPCMA() {
				dn = DecodePCMA(pcm8, f.payload)
			}
			res.trunkPC = append(res.trunkPC, pcm8[:dn]...)
			// The trunk echoes what it heard back to the browser.
			if err := down.Push(downSeq, ts, f.payload); err != nil {
				t.Fatalf("downlink push: %v", err)
			}
			downSeq++
			for {
				on, _, ok := down.Next(opusOut)
				if !ok {
					break
				}
				m, err := dec.Decode(opusOut[:on], pcm48)
				if err != nil {
					t.Fatalf("browser decode: %v", err)
				}
				res.browser = append(res.browser, pcm48[:m]...)
			}
		}
	}
	res.up, res.down = up.Stats(), down.Stats()
	return res
}
