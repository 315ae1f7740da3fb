package bridge

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// The RTP streams the bridge writes: one SSRC, consecutive sequence
// numbers, timestamps at the destination's clock, the marker on the first
// packet, payload types the destination negotiated.

func TestUplinkStream(t *testing.T) {
	r := start(t, testConfig())
	r.browser.feed(t, browserPackets(t, 50, 440)...)
	got := r.trunk.packets()
	if len(got) < 45 {
		t.Fatalf("trunk got %d packets for 1 s of audio", len(got))
	}
	for i, p := range got {
		if p.PayloadType != testTrunkPCMU || p.SSRC != got[0].SSRC || len(p.Payload) != 160 {
			t.Fatalf("packet %d: pt %d ssrc %#x len %d", i, p.PayloadType, p.SSRC, len(p.Payload))
		}
		if i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp != got[i-1].Timestamp+160) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, got[i-1].SequenceNumber, got[i-1].Timestamp)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
	}
	if st := r.b.Uplink(); st.Received != 50 || st.Lost != 0 || st.Dropped != 0 || st.Sent != uint64(len(got)) {
		t.Errorf("uplink %+v, want 50 received, %d sent, nothing lost or dropped", st, len(got))
	}
}

func TestDownlinkStream(t *testing.T) {
	r := start(t, testConfig())
	r.trunk.feed(t, trunkPackets(t, 50, 1000)...)
	got := r.browser.packets()
	if len(got) != 50 {
		t.Fatalf("browser got %d packets for 50", len(got))
	}
	for i, p := range got {
		if p.PayloadType != testOpusPT || p.SSRC != got[0].SSRC {
			t.Fatalf("packet %d: pt %d ssrc %#x", i, p.PayloadType, p.SSRC)
		}
		if i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp != got[i-1].Timestamp+960) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d, want +1, +960 (48 kHz)", i, p.SequenceNumber, p.Timestamp, got[i-1].SequenceNumber, got[i-1].Timestamp)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
	}
	testcodec.AssertTone(t, opusAudio(t, got)[800:], 1000, 440)
}

// TestUplinkDropsWhatItCannotRead: malformed packets and unknown payload
// types are dropped and counted; concealment keeps the trunk's stream
// going over lost packets.
func TestUplinkDropsWhatItCannotRead(t *testing.T) {
	r := start(t, testConfig())
	pkts := browserPackets(t, 10, 440)
	r.browser.feed(t, pkts[:4]...)
	r.browser.feed(t, pkts[6:]...) // 4 and 5 lost
	red := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 63, SequenceNumber: 1010}, Payload: []byte{1, 2, 3}}
	b, err := red.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r.browser.feed(t, []byte{0x80}, b)
	if st := r.b.Uplink(); st.Lost != 2 || st.Dropped != 2 {
		t.Errorf("uplink %+v, want 2 lost and 2 dropped (malformed, unknown payload type)", st)
	}
	if n := len(r.trunk.packets()); n < 8 {
		t.Errorf("trunk got %d packets, want concealment to keep the stream going", n)
	}
}

// TestUplinkMapsBrowserDTMF: a browser may send its digits at either clock
// rate it negotiated; both reach the trunk at 8 kHz with the trunk's
// payload type, on the trunk stream's timeline.
func TestUplinkMapsBrowserDTMF(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pt    uint8
		clock uint16 // samples per 20 ms at the browser's event clock
	}{
		{"telephone-event/48000", testBrowserTE, 960},
		{"telephone-event/8000", testBrowserTE8, 160},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, testConfig())
			r.browser.feed(t, browserPackets(t, 5, 440)...)
			before := len(r.trunk.packets())
			ts := uint32(4800 * 5)
			if tt.pt == testBrowserTE8 {
				ts = 800 * 5
			}
			for i, ev := range []transcode.Event{{Code: 5, Duration: tt.clock}, {Code: 5, Duration: 2 * tt.clock}, {Code: 5, End: true, Duration: 3 * tt.clock}} {
				r.browser.feed(t, eventPacket(t, tt.pt, uint16(1005+i), ts, i == 0, ev))
			}
			if d := r.b.Uplink().Dropped; d != 0 {
				t.Errorf("%d packets dropped", d)
			}
			evs := r.trunk.packets()[before:]
			if len(evs) != 3 {
				t.Fatalf("trunk got %d event packets, want 3", len(evs))
			}
			for i, p := range evs {
				var ev transcode.Event
				if err := ev.Unmarshal(p.Payload); err != nil {
					t.Fatal(err)
				}
				if p.PayloadType != testTrunkTE || ev.Code != 5 || p.Timestamp != evs[0].Timestamp || p.Marker != (i == 0) {
					t.Errorf("event packet %d: pt %d code %d ts %d marker %v", i, p.PayloadType, ev.Code, p.Timestamp, p.Marker)
				}
				if want := uint16(160 * (i + 1)); ev.Duration != want {
					t.Errorf("event packet %d: duration %d, want %d (8 kHz clock)", i, ev.Duration, want)
				}
			}
		})
	}
}

// TestUplinkGeneratedDTMF: digits asked for replace audio frames of the
// trunk's stream, each a marked start, updates and three ends at the
// generator's timing, in one sequence of numbers with the audio around.
func TestUplinkGeneratedDTMF(t *testing.T) {
	r := start(t, testConfig())
	if err := r.b.SendDTMF("1#"); err != nil {
		t.Fatal(err)
	}
	r.browser.feed(t, browserPackets(t, 40, 440)...)
	type event struct {
		ev     transcode.Event
		ts     uint32
		marker bool
	}
	var events []event
	var audio int
	got := r.trunk.packets()
	for _, p := range got {
		if p.PayloadType != testTrunkTE {
			audio++

			continue
		}
		var e transcode.Event
		if err := e.Unmarshal(p.Payload); err != nil {
			t.Fatal(err)
		}
		events = append(events, event{e, p.Timestamp, p.Marker})
	}
	per := transcode.DTMFToneFrames + transcode.DTMFEndPackets
	if len(events) != 2*per {
		t.Fatalf("%d event packets, want %d", len(events), 2*per)
	}
	for d, code := range []uint8{1, 11} {
		digit := events[d*per : (d+1)*per]
		for i, e := range digit {
			if e.ev.Code != code || e.ts != digit[0].ts || e.marker != (i == 0) || e.ev.End != (i >= transcode.DTMFToneFrames) {
				t.Errorf("digit %d packet %d: %+v", d, i, e)
			}
			if want := uint16(160 * min(i+1, transcode.DTMFToneFrames)); e.ev.Duration != want {
				t.Errorf("digit %d packet %d: duration %d, want %d", d, i, e.ev.Duration, want)
			}
		}
	}
	if gap := events[per].ts - events[0].ts; gap != 160*uint32(per+transcode.DTMFGapFrames) {
		t.Errorf("second digit starts %d samples after the first, want %d", gap, 160*(per+transcode.DTMFGapFrames))
	}
	if audio == 0 {
		t.Error("no audio around the digits")
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 || got[i].SSRC != got[0].SSRC {
			t.Fatalf("the stream breaks at packet %d", i)
		}
	}
}

// TestUplinkEventsFollowTrunk: after a change of the trunk's
// telephone-event payload type, the browser's events leave with the new
// one, a new event marked.
func TestUplinkEventsFollowTrunk(t *testing.T) {
	r := start(t, testConfig())
	pkts := browserPackets(t, 10, 440)
	r.browser.feed(t, pkts...)
	if _, _, err := r.b.FollowTrunk(TrunkMedia{Codec: telephony.PCMA, EventPT: 96}); err != nil {
		t.Fatal(err)
	}
	var last rtp.Packet
	if err := last.Unmarshal(pkts[len(pkts)-1]); err != nil {
		t.Fatal(err)
	}
	r.browser.feed(t, eventPacket(t, testBrowserTE, last.SequenceNumber+1, last.Timestamp+960, true, transcode.Event{Code: 9, Duration: 960}))
	got := r.trunk.packets()
	if p := got[len(got)-1]; p.PayloadType != 96 || !p.Marker {
		t.Errorf("browser event left with pt %d marker %v, want the new telephone-event pt 96, marked", p.PayloadType, p.Marker)
	}
}
