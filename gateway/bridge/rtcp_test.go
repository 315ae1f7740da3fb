package bridge

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestTrunkRTCP: the gateway's report to the trunk is an SR about the
// uplink with a block about the trunk's stream (loss, highest sequence
// number, the LSR and DLSR of the trunk's last SR) and a CNAME; the
// trunk's RR about the uplink gives its loss, jitter and the round-trip
// time.
func TestTrunkRTCP(t *testing.T) {
	r := start(t, testConfig())
	t0 := time.Now()
	// Before any media: an RR without blocks.
	first, err := r.b.TrunkRTCP().Report(t0)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(first)
	if err != nil {
		t.Fatal(err)
	}
	if rr, ok := pkts[0].(*rtcp.ReceiverReport); !ok || len(rr.Reports) != 0 || len(pkts) != 2 {
		t.Fatalf("first report %v, want an empty RR and an SDES", pkts)
	}

	trunk := trunkPackets(t, 20, 1000)
	trunkSSRC := parsed(t, trunk)[0].SSRC
	r.trunk.feed(t, trunk[:10]...)
	r.trunk.feed(t, trunk[12:]...) // two lost
	r.browser.feed(t, browserPackets(t, 10, 440)...)

	// The trunk's SR at t0+1s; the gateway reports at t0+1.5s.
	srNTP := ntpTime(t0.Add(time.Second))
	sr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: trunkSSRC, NTPTime: srNTP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.TrunkRTCP().Handle(sr, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rep, err := r.b.TrunkRTCP().Report(t0.Add(1500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if pkts, err = rtcp.Unmarshal(rep); err != nil {
		t.Fatal(err)
	}
	ours, ok := pkts[0].(*rtcp.SenderReport)
	if !ok || len(ours.Reports) != 1 {
		t.Fatalf("report %v, want an SR with one block", pkts)
	}
	up := r.b.Uplink()
	if ours.PacketCount != uint32(up.Sent) || ours.SSRC != r.b.up.hdr.SSRC {
		t.Errorf("SR %+v, want %d packets from the uplink's SSRC", ours, up.Sent)
	}
	rb := ours.Reports[0]
	if rb.SSRC != trunkSSRC || rb.TotalLost != 2 || rb.FractionLost != 2*256/20 || rb.LastSenderReport != middle(srNTP) {
		t.Errorf("block %+v, want 2 of 20 lost and LSR %#x", rb, middle(srNTP))
	}
	if rb.Delay != 1<<15 { // 0.5 s in 1/65536 s
		t.Errorf("DLSR %d, want %d", rb.Delay, 1<<15)
	}
	if sdes, ok := pkts[1].(*rtcp.SourceDescription); !ok || sdes.Chunks[0].Items[0].Text == "" {
		t.Errorf("no CNAME: %v", pkts[1])
	}

	// The trunk answers 200 ms after the SR, having held it 150 ms: the
	// round trip is 50 ms.
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: trunkSSRC, Reports: []rtcp.ReceptionReport{{
		SSRC: ours.SSRC, FractionLost: 64, TotalLost: 3, Jitter: 80,
		LastSenderReport: middle(ours.NTPTime), Delay: 150 * (1 << 16) / 1000,
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.TrunkRTCP().Handle(rr, t0.Add(1700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	got := r.b.TrunkRTCP().Last()
	if got.Reports != 1 || got.FractionLost != 0.25 || got.Lost != 3 || got.Jitter != 10*time.Millisecond {
		t.Errorf("trunk report %+v", got)
	}
	if d := got.RTT - 50*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("RTT %v, want 50ms", got.RTT)
	}
	if err := r.b.TrunkRTCP().Handle([]byte{1, 2, 3}, t0); err == nil {
		t.Error("garbage accepted as RTCP")
	}
}
