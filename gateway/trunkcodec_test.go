package gateway

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// The bridge goroutines follow a trunk codec the session publishes, at the
// next packet, without a jump in their output streams.

// trunkPCMA is the trunk's media after a change to A-law with
// telephone-event on payload type 96.
var trunkPCMA = &trunkMedia{codec: telephony.PCMA, tePT: 96}

func TestUplinkFollowsTrunkCodec(t *testing.T) {
	rec := &trunkRecorder{keep: true}
	u, c, muted := newTestUplink(t, rec)
	pkts := browserPackets(t, 100, 440)
	for _, b := range pkts[:50] {
		u.handle(b)
	}
	switchAt := len(rec.packets)
	u.media.Store(trunkPCMA)
	for _, b := range pkts[50:] {
		u.handle(b)
	}
	if c.dropped.Load() != 0 {
		t.Fatalf("%d packets dropped", c.dropped.Load())
	}
	var alaw []int16
	var tmp [160]int16
	for i, p := range rec.packets {
		want := uint8(testTrunkPCMU)
		if i >= switchAt {
			want = 8
		}
		if p.PayloadType != want || p.SSRC != testTrunkSSRC {
			t.Fatalf("packet %d: pt %d ssrc %#x, want pt %d", i, p.PayloadType, p.SSRC, want)
		}
		if i > 0 {
			prev := rec.packets[i-1]
			if p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160 || p.Marker {
				t.Fatalf("packet %d: seq %d ts %d marker %v after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, p.Marker, prev.SequenceNumber, prev.Timestamp)
			}
		}
		if i >= switchAt {
			n := transcode.DecodePCMA(tmp[:], p.Payload)
			alaw = append(alaw, tmp[:n]...)
		}
	}
	assertToneLevel(t, alaw, 440, 1000)

	// The browser's telephone-events and the silence of a held call
	// follow too.
	var payload [4]byte
	if _, err := (transcode.Event{Code: 9, Duration: 960}).MarshalTo(payload[:]); err != nil {
		t.Fatal(err)
	}
	ev := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testBrowserTE, SequenceNumber: 1100, Timestamp: 960 * 100, Marker: true, SSRC: 42}, Payload: payload[:]}
	b, _ := ev.Marshal()
	u.handle(b)
	if p := rec.packets[len(rec.packets)-1]; p.PayloadType != 96 || !p.Marker {
		t.Errorf("browser event left with pt %d marker %v, want the new telephone-event pt 96, marked", p.PayloadType, p.Marker)
	}
	muted.Store(true)
	held := len(rec.packets)
	for _, b := range browserPackets(t, 5, 440) {
		u.handle(b)
	}
	for _, p := range rec.packets[held:] {
		for _, x := range p.Payload {
			if x != transcode.SilencePCMA {
				t.Fatalf("held call sends %#x, want A-law silence %#x", x, transcode.SilencePCMA)
			}
		}
	}
}

func TestDownlinkFollowsTrunkCodec(t *testing.T) {
	rec := &browserRecorder{keep: true}
	var digits []rune
	d, c := newTestDownlink(t, rec, func(r rune) { digits = append(digits, r) })
	for _, b := range g711Packets(t, telephony.PCMU, 50, 1000, 7, 5000) {
		d.handle(b)
	}
	d.media.Store(trunkPCMA)
	// The trunk's new RTP stream starts elsewhere; a late packet of the
	// old codec is not decoded as the new one.
	d.handle(g711Packets(t, telephony.PCMU, 1, 1000, 57, 5000+160*50)[0])
	for _, b := range g711Packets(t, telephony.PCMA, 50, 1000, 40000, 123456) {
		d.handle(b)
	}
	if got := c.dropped.Load(); got != 1 {
		t.Errorf("dropped %d packets, want 1 (the old codec's after the switch)", got)
	}
	if len(rec.packets) != 100 {
		t.Fatalf("browser got %d packets for 100 of the trunk", len(rec.packets))
	}
	sink := newOpusSink(t, testOpusPT)
	for i, p := range rec.packets {
		if i > 0 && (p.Timestamp != rec.packets[i-1].Timestamp+960 || p.SequenceNumber != rec.packets[i-1].SequenceNumber+1) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, rec.packets[i-1].SequenceNumber, rec.packets[i-1].Timestamp)
		}
		sink.push(&p)
	}
	// 100 ms of codec start-up skipped; the switch is at 1 s.
	assertToneLevel(t, sink.pcm[800:], 1000, 440)
	assertToneLevel(t, sink.pcm[len(sink.pcm)-4000:], 1000, 440)

	// Telephone-events follow the new payload type; the old one is dropped.
	for _, pt := range []uint8{testTrunkTE, 96} {
		var payload [4]byte
		_, _ = transcode.Event{Code: pt % 10, End: true, Duration: 800}.MarshalTo(payload[:])
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 40100 + uint16(pt), Timestamp: 200000 + uint32(pt)}, Payload: payload[:]}
		b, _ := p.Marshal()
		d.handle(b)
	}
	if string(digits) != "6" {
		t.Errorf("digits %q, want only 6 from the new telephone-event pt 96", string(digits))
	}
}

// Following a change costs no allocation either: the bridge picks it up
// in the packet path.
func TestFollowDoesNotAllocate(t *testing.T) {
	media := [2]*trunkMedia{{codec: telephony.PCMU, tePT: testTrunkTE}, trunkPCMA}
	t.Run("uplink", func(t *testing.T) {
		u, _, _ := newTestUplink(t, &trunkRecorder{})
		var p rtp.Packet
		_ = p.Unmarshal(browserPackets(t, 1, 440)[0])
		allocs := allocsPerPacket(300, 960, func(i int) *rtp.Packet {
			if i%5 == 0 {
				u.media.Store(media[i/5%2])
			}

			return &p
		}, u.handle)
		if allocs != 0 {
			t.Errorf("uplink allocates %v times per packet across codec changes", allocs)
		}
		if st := u.tc.Stats(); st.Switches < 50 {
			t.Errorf("uplink switched %d times, want 60", st.Switches)
		}
	})
	t.Run("downlink", func(t *testing.T) {
		d, _ := newTestDownlink(t, &browserRecorder{}, nil)
		var p rtp.Packet
		_ = p.Unmarshal(g711Packets(t, telephony.PCMU, 1, 1000, 0, 0)[0])
		allocs := allocsPerPacket(300, 160, func(i int) *rtp.Packet {
			if i%5 == 0 {
				m := media[i/5%2]
				d.media.Store(m)
				p.PayloadType = m.codec.PayloadType
			}

			return &p
		}, d.handle)
		if allocs != 0 {
			t.Errorf("downlink allocates %v times per packet across codec changes", allocs)
		}
		if st := d.tc.Stats(); st.Switches < 50 || st.Frames < 250 {
			t.Errorf("downlink stats %+v, want 60 switches and every frame", st)
		}
	})
}
