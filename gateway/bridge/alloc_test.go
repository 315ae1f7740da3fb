package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// discard is a Leg that swallows what is written and is never read: the
// bridge's packet path measured alone.
type discard struct{}

func (discard) ReadRTP([]byte) (int, error)    { select {} }
func (discard) WriteRTP(b []byte) (int, error) { return len(b), nil }
func (discard) Close() error                   { return nil }

// newMeasured builds a bridge of testConfig between two discard legs,
// for calling its directions' handle directly.
func newMeasured(tb testing.TB) *Bridge {
	tb.Helper()
	cfg := testConfig()
	cfg.Browser, cfg.Trunk = discard{}, discard{}
	b, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}

	return b
}

// allocsPerPacket returns the average allocations of handle per packet over
// runs packets (testing.AllocsPerRun): packet i is next(i), re-marshalled
// with sequence number i and timestamp step*i.
func allocsPerPacket(runs int, step uint32, next func(i int) *rtp.Packet, handle func([]byte)) float64 {
	buf := make([]byte, rtpstream.MaxPacketSize)
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

// parsed unmarshals raw packets.
func parsed(tb testing.TB, raw [][]byte) []rtp.Packet {
	tb.Helper()
	out := make([]rtp.Packet, len(raw))
	for i, b := range raw {
		if err := out[i].Unmarshal(b); err != nil {
			tb.Fatal(err)
		}
	}

	return out
}

func TestPerPacketPathsDoNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		what string                    // the path, for the failure message
		prep func(b *Bridge) error     // state set before the packets
		pkts func(testing.TB) [][]byte // packets, sent in turn
		runs int
		down bool // the packets go to the downlink, else the uplink
	}{
		{"uplink", "uplink", nil, func(tb testing.TB) [][]byte { return browserPackets(tb, 200, 440) }, 500, false},
		{"downlink", "downlink", nil, func(tb testing.TB) [][]byte { return trunkPackets(tb, 1, 1000) }, 500, true},
		{"dtmf", "uplink with dtmf", func(b *Bridge) error { return b.SendDTMF("123456789*#0ABCD123456789*#0ABCD") },
			func(tb testing.TB) [][]byte { return browserPackets(tb, 1, 440) }, 300, false},
		{"muted", "a muted uplink", func(b *Bridge) error { b.SetMuted(true); return nil },
			func(tb testing.TB) [][]byte { return browserPackets(tb, 1, 440) }, 300, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newMeasured(t)
			if tc.prep != nil {
				if err := tc.prep(b); err != nil {
					t.Fatal(err)
				}
			}
			pkts := parsed(t, tc.pkts(t))
			step, handle := uint32(960), b.up.handle
			if tc.down {
				step, handle = 160, b.down.handle
			}
			allocs := allocsPerPacket(tc.runs, step, func(i int) *rtp.Packet { return &pkts[i%len(pkts)] }, handle)
			if allocs != 0 {
				t.Errorf("%s allocates %v times per packet", tc.what, allocs)
			}
		})
	}
}

// Following a change of the trunk's media costs no allocation either:
// each direction picks it up in the packet path. The values are published
// the way FollowTrunk does, from storage allocated up front.
func TestFollowDoesNotAllocate(t *testing.T) {
	media := [2]TrunkMedia{{Codec: telephony.PCMU, EventPT: testTrunkTE}, {Codec: telephony.PCMA, EventPT: 96}}
	t.Run("uplink", func(t *testing.T) {
		b := newMeasured(t)
		p := parsed(t, browserPackets(t, 1, 440))[0]
		allocs := allocsPerPacket(300, 960, func(i int) *rtp.Packet {
			if i%5 == 0 {
				b.media.Store(&media[i/5%2])
			}

			return &p
		}, b.up.handle)
		if allocs != 0 {
			t.Errorf("uplink allocates %v times per packet across codec changes", allocs)
		}
		if st := b.up.tc.Stats(); st.Switches < 50 {
			t.Errorf("uplink switched %d times, want 60", st.Switches)
		}
	})
	t.Run("downlink", func(t *testing.T) {
		b := newMeasured(t)
		p := parsed(t, testcodec.G711Packets(t, telephony.PCMU, 1, 1000, 0, 0))[0]
		allocs := allocsPerPacket(300, 160, func(i int) *rtp.Packet {
			if i%5 == 0 {
				m := &media[i/5%2]
				b.media.Store(m)
				p.PayloadType = m.Codec.PayloadType
			}

			return &p
		}, b.down.handle)
		if allocs != 0 {
			t.Errorf("downlink allocates %v times per packet across codec changes", allocs)
		}
		if st := b.down.tc.Stats(); st.Switches < 50 || st.Frames < 250 {
			t.Errorf("downlink stats %+v, want 60 switches and every frame", st)
		}
	})
}

// BenchmarkUplinkPacket measures one browser packet of a bridged call as
// the gateway configures it: RTP parse, RFC 3550 accounting, the jitter
// buffer, Opus decode at 8 kHz, PCMU encode, RTP header and write.
func BenchmarkUplinkPacket(b *testing.B) {
	br := newJittered(b, transcode.DefaultJitterMin, transcode.DefaultJitterMax)
	benchPackets(b, parsed(b, browserPackets(b, 250, 440)), 960, br.up.handle)
}

// BenchmarkUplinkPacketNoJitterBuffer is BenchmarkUplinkPacket without
// the uplink's jitter buffer, for comparing the two in one run.
func BenchmarkUplinkPacketNoJitterBuffer(b *testing.B) {
	br := newJittered(b, 0, 0)
	benchPackets(b, parsed(b, browserPackets(b, 250, 440)), 960, br.up.handle)
}

// newJittered is newMeasured with both directions' jitter buffer bounds
// set to minDepth and maxDepth (none when both are 0), as the gateway
// configures them.
func newJittered(tb testing.TB, minDepth, maxDepth time.Duration) *Bridge {
	tb.Helper()
	cfg := testConfig()
	cfg.Browser, cfg.Trunk = discard{}, discard{}
	cfg.UplinkJitterMin, cfg.UplinkJitterMax = minDepth, maxDepth
	cfg.DownlinkJitterMin, cfg.DownlinkJitterMax = minDepth, maxDepth
	b, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}

	return b
}

// BenchmarkDownlinkPacket measures one trunk packet of a bridged call as
// the gateway configures it: RTP parse, RFC 3550 accounting, the jitter
// buffer, PCMU decode, Opus encode at 8 kHz, RTP header and write.
func BenchmarkDownlinkPacket(b *testing.B) {
	br := newJittered(b, transcode.DefaultJitterMin, transcode.DefaultJitterMax)
	benchPackets(b, parsed(b, trunkPackets(b, 250, 1000)), 160, br.down.handle)
}

// BenchmarkDownlinkPacketNoJitterBuffer is BenchmarkDownlinkPacket
// without the downlink's jitter buffer, for comparing the two in one run.
func BenchmarkDownlinkPacketNoJitterBuffer(b *testing.B) {
	br := newJittered(b, 0, 0)
	benchPackets(b, parsed(b, trunkPackets(b, 250, 1000)), 160, br.down.handle)
}

// TestDownlinkJitterBufferDoesNotAllocate: the trunk's packets cross the
// downlink's jitter buffer without allocating.
func TestDownlinkJitterBufferDoesNotAllocate(t *testing.T) {
	b := newJittered(t, transcode.DefaultJitterMin, transcode.DefaultJitterMax)
	pkts := parsed(t, trunkPackets(t, 200, 1000))
	if allocs := allocsPerPacket(500, 160, func(i int) *rtp.Packet { return &pkts[i%len(pkts)] }, b.down.handle); allocs != 0 {
		t.Errorf("downlink with jitter buffer allocates %v times per packet", allocs)
	}
	if !strings.HasSuffix(b.String(), "ptime 20ms, jitter buffer 20-80ms") {
		t.Errorf("String = %q", b.String())
	}
}

// benchPackets times handle on the packets in turn, renumbered as one
// stream of step RTP clock ticks per packet.
func benchPackets(b *testing.B, pkts []rtp.Packet, step int, handle func([]byte)) {
	b.Helper()
	buf := make([]byte, rtpstream.MaxPacketSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := &pkts[i%len(pkts)]
		p.SequenceNumber = uint16(i)   //nolint:gosec // wraps as RTP does
		p.Timestamp = uint32(step * i) //nolint:gosec // wraps as RTP does
		n, _ := p.MarshalTo(buf)
		handle(buf[:n])
	}
}

// The uplink with the gateway's jitter buffer allocates nothing per
// packet either (transcode's TestJitterBufferDoesNotAllocate covers
// reordered and lost packets).
func TestUplinkJitterBufferDoesNotAllocate(t *testing.T) {
	b := newJittered(t, transcode.DefaultJitterMin, transcode.DefaultJitterMax)
	pkts := parsed(t, browserPackets(t, 200, 440))
	if allocs := allocsPerPacket(500, 960, func(i int) *rtp.Packet { return &pkts[i%len(pkts)] }, b.up.handle); allocs != 0 {
		t.Errorf("uplink with jitter buffer allocates %v times per packet", allocs)
	}
	if !strings.HasPrefix(b.String(), "up: opus/48000 decode") || !strings.Contains(b.String(), "ptime 20ms, jitter buffer 20-80ms; down:") {
		t.Errorf("String = %q", b.String())
	}
}
