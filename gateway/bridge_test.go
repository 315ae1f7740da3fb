package gateway

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// Payload types of the tests: the browser's (Chromium's numbering) and the
// trunk's.
const (
	testOpusPT     = 111
	testBrowserTE  = 110 // telephone-event/48000
	testBrowserTE8 = 126 // telephone-event/8000, which Chromium uses beside Opus
	testTrunkTE    = 101
	testTrunkPCMU  = 0
	testTrunkSSRC  = 0x11223344
	testBrowserSSR = 0x55667788
)

// trunkRecorder stands in for the trunk's RTP socket: it keeps the packets
// the uplink writes, into storage allocated up front.
type trunkRecorder struct {
	keep    bool
	packets []rtp.Packet
	count   int
}

func (r *trunkRecorder) WriteRTP(b []byte) (int, error) {
	r.count++
	if r.keep {
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), b...)); err != nil {
			return 0, err
		}
		r.packets = append(r.packets, p)
	}

	return len(b), nil
}

// browserRecorder stands in for the browser's track.
type browserRecorder struct {
	keep    bool
	packets []rtp.Packet
	count   int
}

func (r *browserRecorder) WriteRTP(p *rtp.Packet) error {
	r.count++
	if r.keep {
		c := p.Clone()
		r.packets = append(r.packets, *c)
	}

	return nil
}

// newTestUplink builds the uplink of an Opus browser and a PCMU trunk
// with telephone-event on both legs.
func newTestUplink(tb testing.TB, w rawWriter) (*uplink, *legCounters, *atomic.Bool) {
	tb.Helper()
	up, err := transcode.NewUplink(telephony.Opus.WithPayloadType(testOpusPT), telephony.PCMU)
	if err != nil {
		tb.Fatalf("NewUplink: %v", err)
	}
	var mappers []*transcode.DTMFMapper
	for _, in := range []telephony.Codec{
		{Name: "telephone-event", ClockRate: 48000, Channels: 1, PayloadType: testBrowserTE},
		{Name: "telephone-event", ClockRate: 8000, Channels: 1, PayloadType: testBrowserTE8},
	} {
		mapper, err := transcode.NewDTMFMapper(in, telephony.TelephoneEvent8k.WithPayloadType(testTrunkTE), up)
		if err != nil {
			tb.Fatalf("NewDTMFMapper: %v", err)
		}
		mappers = append(mappers, mapper)
	}
	c := &legCounters{}
	muted := &atomic.Bool{}

	return newUplink(up, testOpusPT, mappers, newDTMFSender(), testTrunkMedia(telephony.PCMU), testTrunkSSRC, w, c, muted, time.Now()), c, muted
}

// testTrunkMedia returns the trunk's negotiated media of the bridge tests:
// codec with the trunk's telephone-event.
func testTrunkMedia(codec telephony.Codec) *atomic.Pointer[trunkMedia] {
	m := &atomic.Pointer[trunkMedia]{}
	m.Store(&trunkMedia{codec: codec, tePT: testTrunkTE})

	return m
}

// newTestDownlink builds the downlink of a PCMU trunk and an Opus browser.
func newTestDownlink(tb testing.TB, w packetWriter, onDigit func(rune)) (*downlink, *legCounters) {
	tb.Helper()
	down, err := transcode.NewDownlink(telephony.PCMU, telephony.Opus.WithPayloadType(testOpusPT))
	if err != nil {
		tb.Fatalf("NewDownlink: %v", err)
	}
	c := &legCounters{}

	return newDownlink(down, testTrunkMedia(telephony.PCMU), testOpusPT, testBrowserSSR, w, c, onDigit, time.Now()), c
}

// browserPackets marshals n Opus packets of a tone as the browser sends them.
func browserPackets(tb testing.TB, n int, freq float64) [][]byte {
	tb.Helper()
	src := newOpusSource(tb, freq, testOpusPT)
	out := make([][]byte, n)
	for i := range out {
		payload, ts := src.next()
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testOpusPT, SequenceNumber: uint16(1000 + i), Timestamp: ts, SSRC: 42}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = b
	}

	return out
}

// trunkPackets marshals n PCMU packets of a tone as a trunk sends them.
func trunkPackets(tb testing.TB, n int, freq float64) [][]byte {
	tb.Helper()

	return g711Packets(tb, telephony.PCMU.WithPayloadType(testTrunkPCMU), n, freq, 7, 5000)
}

// g711Packets marshals n packets of a tone of freq Hz in codec c (its
// payload type) as a trunk sends them, from sequence number seq and
// timestamp ts on.
func g711Packets(tb testing.TB, c telephony.Codec, n int, freq float64, seq uint16, ts uint32) [][]byte {
	tb.Helper()
	tone := testaudio.NewTone(freq, 8000, toneAmp)
	var pcm [160]int16
	out := make([][]byte, n)
	for i := range out {
		tone.Fill(pcm[:])
		payload := make([]byte, 160)
		if c.IsPCMA() {
			transcode.EncodePCMA(payload, pcm[:])
		} else {
			transcode.EncodePCMU(payload, pcm[:])
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PayloadType, SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(160*i), SSRC: 77}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = b
	}

	return out
}

func TestUplinkTranscodesBrowserToneToTrunk(t *testing.T) {
	rec := &trunkRecorder{keep: true}
	u, c, _ := newTestUplink(t, rec)
	for _, b := range browserPackets(t, 50, 440) {
		u.handle(b)
	}
	if c.received.Load() != 50 || c.lost.Load() != 0 || c.dropped.Load() != 0 {
		t.Fatalf("counters received %d lost %d dropped %d, want 50 0 0", c.received.Load(), c.lost.Load(), c.dropped.Load())
	}
	if len(rec.packets) < 45 {
		t.Fatalf("trunk got %d packets for 1 s of audio", len(rec.packets))
	}
	var pcm []int16
	var tmp [160]int16
	for i, p := range rec.packets {
		if p.PayloadType != testTrunkPCMU || p.SSRC != testTrunkSSRC || len(p.Payload) != 160 {
			t.Fatalf("packet %d: pt %d ssrc %#x len %d", i, p.PayloadType, p.SSRC, len(p.Payload))
		}
		if i > 0 {
			prev := rec.packets[i-1]
			if p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160 {
				t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
			}
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
		n := transcode.DecodePCMU(tmp[:], p.Payload)
		pcm = append(pcm, tmp[:n]...)
	}
	assertTone(t, pcm[800:], 440, 1000)
}

func TestUplinkCountsLossAndDropsUnknownPayloads(t *testing.T) {
	rec := &trunkRecorder{}
	u, c, _ := newTestUplink(t, rec)
	pkts := browserPackets(t, 10, 440)
	for i, b := range pkts {
		if i == 4 || i == 5 {
			continue // lost
		}
		u.handle(b)
	}
	u.handle([]byte{0x80}) // too short to be RTP
	red := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 63, SequenceNumber: 1010}, Payload: []byte{1, 2, 3}}
	b, _ := red.Marshal()
	u.handle(b)
	if got := c.lost.Load(); got != 2 {
		t.Errorf("lost = %d, want 2", got)
	}
	if got := c.dropped.Load(); got != 2 {
		t.Errorf("dropped = %d, want 2 (malformed, unknown payload type)", got)
	}
	if rec.count < 8 {
		t.Errorf("trunk got %d packets, want concealment to keep the stream going", rec.count)
	}
}

func TestUplinkSendsSilenceOnHold(t *testing.T) {
	rec := &trunkRecorder{keep: true}
	u, _, muted := newTestUplink(t, rec)
	muted.Store(true)
	for _, b := range browserPackets(t, 20, 440) {
		u.handle(b)
	}
	if len(rec.packets) < 15 {
		t.Fatalf("held call sent %d packets, want the stream to go on", len(rec.packets))
	}
	for i, p := range rec.packets {
		for _, x := range p.Payload {
			if x != transcode.SilencePCMU {
				t.Fatalf("packet %d carries audio %#x while held", i, x)
			}
		}
	}
}

func TestUplinkMapsBrowserDTMF(t *testing.T) {
	// A browser may send its digits at either clock rate it negotiated:
	// both must reach the trunk at 8 kHz with the trunk's payload type.
	for _, tt := range []struct {
		name  string
		pt    uint8
		clock uint16 // samples per 20 ms at the browser's event clock
	}{
		{"telephone-event/48000", testBrowserTE, 960},
		{"telephone-event/8000", testBrowserTE8, 160},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &trunkRecorder{keep: true}
			u, c, _ := newTestUplink(t, rec)
			for _, b := range browserPackets(t, 5, 440) {
				u.handle(b)
			}
			before := len(rec.packets)
			var payload [4]byte
			for i, ev := range []transcode.Event{{Code: 5, Duration: tt.clock}, {Code: 5, Duration: 2 * tt.clock}, {Code: 5, End: true, Duration: 3 * tt.clock}} {
				if _, err := ev.MarshalTo(payload[:]); err != nil {
					t.Fatal(err)
				}
				ts := uint32(4800 * 5)
				if tt.pt == testBrowserTE8 {
					ts = 800 * 5
				}
				p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: tt.pt, SequenceNumber: uint16(1005 + i), Timestamp: ts, Marker: i == 0, SSRC: 42}, Payload: payload[:]}
				b, _ := p.Marshal()
				u.handle(b)
			}
			if d := c.dropped.Load(); d != 0 {
				t.Errorf("%d packets dropped", d)
			}
			evs := rec.packets[before:]
			if len(evs) != 3 {
				t.Fatalf("trunk got %d event packets, want 3", len(evs))
			}
			for i, p := range evs {
				var ev transcode.Event
				if err := ev.Unmarshal(p.Payload); err != nil {
					t.Fatal(err)
				}
				if p.PayloadType != testTrunkTE || ev.Code != 5 || p.Timestamp != evs[0].Timestamp {
					t.Errorf("event packet %d: pt %d code %d ts %d", i, p.PayloadType, ev.Code, p.Timestamp)
				}
				if want := uint16(160 * (i + 1)); ev.Duration != want {
					t.Errorf("event packet %d: duration %d, want %d (8 kHz clock)", i, ev.Duration, want)
				}
			}
		})
	}
}

func TestDownlinkTranscodesTrunkToneToBrowser(t *testing.T) {
	rec := &browserRecorder{keep: true}
	d, c := newTestDownlink(t, rec, nil)
	for _, b := range trunkPackets(t, 50, 1000) {
		d.handle(b)
	}
	if c.received.Load() != 50 || c.dropped.Load() != 0 {
		t.Fatalf("received %d dropped %d", c.received.Load(), c.dropped.Load())
	}
	if len(rec.packets) < 45 {
		t.Fatalf("browser got %d packets", len(rec.packets))
	}
	sink := newOpusSink(t, testOpusPT)
	for i, p := range rec.packets {
		if p.PayloadType != testOpusPT {
			t.Fatalf("packet %d: pt %d", i, p.PayloadType)
		}
		if i > 0 && p.Timestamp != rec.packets[i-1].Timestamp+960 {
			t.Fatalf("packet %d: ts %d after %d, want +960 (48 kHz)", i, p.Timestamp, rec.packets[i-1].Timestamp)
		}
		sink.push(&p)
	}
	assertTone(t, sink.pcm[800:], 1000, 440)
}

func TestDownlinkReportsEachDigitOnce(t *testing.T) {
	var digits []rune
	d, _ := newTestDownlink(t, &browserRecorder{}, func(r rune) { digits = append(digits, r) })
	seq := uint16(1)
	send := func(code uint8, ts uint32, end bool, dur uint16) {
		var payload [4]byte
		_, _ = transcode.Event{Code: code, End: end, Duration: dur}.MarshalTo(payload[:])
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testTrunkTE, SequenceNumber: seq, Timestamp: ts}, Payload: payload[:]}
		seq++
		b, _ := p.Marshal()
		d.handle(b)
	}
	for _, ev := range []struct {
		code uint8
		ts   uint32
	}{{1, 1000}, {11, 3000}, {1, 5000}} {
		send(ev.code, ev.ts, false, 160)
		send(ev.code, ev.ts, false, 320)
		for range 3 {
			send(ev.code, ev.ts, true, 800)
		}
	}
	if string(digits) != "1#1" {
		t.Fatalf("digits %q, want %q", string(digits), "1#1")
	}
}

// allocsPerPacket returns the average allocations of handle per packet over
// runs packets (testing.AllocsPerRun): packet i is next(i), re-marshalled
// with sequence number i and timestamp step*i.
func allocsPerPacket(runs int, step uint32, next func(i int) *rtp.Packet, handle func([]byte)) float64 {
	buf := make([]byte, mtu)
	i := 0

	return testing.AllocsPerRun(runs, func() {
		p := next(i)
		p.SequenceNumber = uint16(i)
		p.Timestamp = step * uint32(i)
		n, _ := p.MarshalTo(buf)
		handle(buf[:n])
		i++
	})
}

func TestPerPacketPathsDoNotAllocate(t *testing.T) {
	t.Run("uplink", func(t *testing.T) {
		u, _, _ := newTestUplink(t, &trunkRecorder{})
		pkts := browserPackets(t, 200, 440)
		// The same payloads with rising sequence numbers and timestamps.
		hdr := make([]rtp.Packet, len(pkts))
		for i, b := range pkts {
			_ = hdr[i].Unmarshal(b)
		}
		allocs := allocsPerPacket(500, 960, func(i int) *rtp.Packet { return &hdr[i%len(hdr)] }, u.handle)
		if allocs != 0 {
			t.Errorf("uplink allocates %v times per packet", allocs)
		}
	})
	t.Run("downlink", func(t *testing.T) {
		d, _ := newTestDownlink(t, &browserRecorder{}, nil)
		pkts := trunkPackets(t, 1, 1000)
		var p rtp.Packet
		_ = p.Unmarshal(pkts[0])
		allocs := allocsPerPacket(500, 160, func(int) *rtp.Packet { return &p }, d.handle)
		if allocs != 0 {
			t.Errorf("downlink allocates %v times per packet", allocs)
		}
	})
	t.Run("dtmf", func(t *testing.T) {
		u, _, _ := newTestUplink(t, &trunkRecorder{})
		if err := u.gen.enqueue("123456789*#0ABCD123456789*#0ABCD"); err != nil {
			t.Fatal(err)
		}
		pkts := browserPackets(t, 1, 440)
		var p rtp.Packet
		_ = p.Unmarshal(pkts[0])
		allocs := allocsPerPacket(300, 960, func(int) *rtp.Packet { return &p }, u.handle)
		if allocs != 0 {
			t.Errorf("uplink with dtmf allocates %v times per packet", allocs)
		}
	})
}

// BenchmarkUplinkPacket measures one browser packet of a bridged call:
// RTP parse, Opus decode at 8 kHz, PCMU encode, RTP header and write.
func BenchmarkUplinkPacket(b *testing.B) {
	u, _, _ := newTestUplink(b, &trunkRecorder{})
	pkts := browserPackets(b, 250, 440)
	hdr := make([]rtp.Packet, len(pkts))
	for i, raw := range pkts {
		_ = hdr[i].Unmarshal(raw)
	}
	buf := make([]byte, mtu)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := &hdr[i%len(hdr)]
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32(960 * i)
		n, _ := p.MarshalTo(buf)
		u.handle(buf[:n])
	}
}

// BenchmarkDownlinkPacket measures one trunk packet of a bridged call: RTP
// parse, PCMU decode, Opus encode at 8 kHz, RTP packet to the track.
func BenchmarkDownlinkPacket(b *testing.B) {
	d, _ := newTestDownlink(b, &browserRecorder{}, nil)
	pkts := trunkPackets(b, 250, 1000)
	hdr := make([]rtp.Packet, len(pkts))
	for i, raw := range pkts {
		_ = hdr[i].Unmarshal(raw)
	}
	buf := make([]byte, mtu)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := &hdr[i%len(hdr)]
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32(160 * i)
		n, _ := p.MarshalTo(buf)
		d.handle(buf[:n])
	}
}
