package transcode

import (
	"errors"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/telephony"
)

// Fuzz targets for every parser that reads bytes from the network.

func FuzzOpusPacket(f *testing.F) {
	for _, p := range opusPackets(f, 3, 20) {
		f.Add(p)
	}
	for _, seed := range [][]byte{{}, {0}, {1<<3 | 1, 1, 2}, {1<<3 | 2, 252, 1, 0}, {1<<3 | 3, 0xC3, 255, 1, 1, 1, 1}, {16<<3 | 3, 48}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p OpusPacket
		err := p.Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedPacket) {
				t.Fatalf("error %v does not wrap ErrMalformedPacket", err)
			}
			return
		}
		if p.FrameCount < 1 || p.FrameCount > opusMaxFrames || p.Samples48k() > opusMaxSamples48k {
			t.Fatalf("accepted %d frames, %d samples", p.FrameCount, p.Samples48k())
		}
		total := 0
		for i := range p.FrameCount {
			fr := p.FrameData(b, i)
			if len(fr) > opusMaxFrameBytes {
				t.Fatalf("frame %d of %d bytes", i, len(fr))
			}
			total += len(fr)
		}
		if total > len(b) {
			t.Fatalf("frames total %d bytes of a %d-byte packet", total, len(b))
		}
		_ = p.HasFEC(b)
	})
}

// fuzzPacket is one RTP packet of a fuzz input: sequence number, timestamp
// and payload.
type fuzzPacket struct {
	s uint16
	t uint32
	p []byte
}

// pushFuzzed pushes each packet in turn and then calls drain to check what
// came out; Push may refuse a packet with ErrMalformedPacket, any other
// error fails the test.
func pushFuzzed(t *testing.T, push func(seq uint16, ts uint32, payload []byte) error, pkts []fuzzPacket, drain func()) {
	t.Helper()
	for _, in := range pkts {
		if err := push(in.s, in.t, in.p); err != nil && !errors.Is(err, ErrMalformedPacket) {
			t.Fatalf("unexpected error %v", err)
		}
		drain()
	}
}

// FuzzUplinkPush feeds arbitrary RTP payloads, sequence numbers and
// timestamps to an Opus uplink: it must never panic, and every frame it
// produces must be a whole G.711 frame.
func FuzzUplinkPush(f *testing.F) {
	pk := opusPackets(f, 2, 20)
	f.Add(uint16(1), uint32(960), pk[0], uint16(2), uint32(1920), pk[1])
	f.Add(uint16(1), uint32(0), []byte{3 << 3}, uint16(9), uint32(99999), []byte{16<<3 | 3, 0x80 | 2, 1, 5, 5})
	f.Fuzz(func(t *testing.T, s1 uint16, t1 uint32, p1 []byte, s2 uint16, t2 uint32, p2 []byte) {
		up := mustUplink(t, telephony.Opus, telephony.PCMA)
		pushFuzzed(t, up.Push, []fuzzPacket{{s1, t1, p1}, {s2, t2, p2}, {s2 + 1, t2 + 960, pk[0]}}, func() {
			drainWhole(t, up.Next, 160)
		})
	})
}

// FuzzDownlinkPush does the same for the G.711 to Opus direction.
func FuzzDownlinkPush(f *testing.F) {
	f.Add(uint16(1), uint32(160), make([]byte, 160), uint16(2), uint32(320), make([]byte, 80))
	f.Fuzz(func(t *testing.T, s1 uint16, t1 uint32, p1 []byte, s2 uint16, t2 uint32, p2 []byte) {
		down := mustDownlink(t, telephony.PCMU, telephony.Opus)
		pushFuzzed(t, down.Push, []fuzzPacket{{s1, t1, p1}, {s2, t2, p2}}, func() {
			for _, f := range drainFrames(down.Next, down.MaxPayloadSize()) {
				var p OpusPacket
				if err := p.Parse(f.payload); err != nil {
					t.Fatalf("downlink produced a malformed Opus packet: %v", err)
				}
			}
		})
	})
}

// FuzzTelephoneEvent checks RFC 4733 payload parsing and the mapper.
func FuzzTelephoneEvent(f *testing.F) {
	f.Add([]byte{5, 0x8A, 0x03, 0x20}, uint32(48000), true)
	f.Add([]byte{1}, uint32(0), false)
	f.Fuzz(func(t *testing.T, b []byte, ts uint32, marker bool) {
		var ev Event
		err := ev.Unmarshal(b)
		if len(b) < 4 {
			if !errors.Is(err, ErrShortPayload) {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			var out [4]byte
			if _, err := ev.MarshalTo(out[:]); err != nil {
				t.Fatal(err)
			}
			if out[0] != b[0] || out[1] != b[1]&^0x40 || out[2] != b[2] || out[3] != b[3] {
				t.Fatalf("round trip % x -> % x", b[:4], out)
			}
		}
		m, err := NewDTMFMapper(telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 126}, telephony.TelephoneEvent8k, nil)
		if err != nil {
			t.Fatal(err)
		}
		var hdr rtp.Header
		dst := make([]byte, 4)
		n, err := m.Map(&rtp.Packet{Header: rtp.Header{PayloadType: 126, Timestamp: ts, Marker: marker}, Payload: b}, &hdr, dst)
		if err == nil && (n != 4 || hdr.PayloadType != 101) {
			t.Fatalf("mapped %d bytes with payload type %d", n, hdr.PayloadType)
		}
	})
}
