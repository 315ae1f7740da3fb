package bridge

import (
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// withSSRC returns pkts re-marshalled with SSRC ssrc.
func withSSRC(tb testing.TB, pkts [][]byte, ssrc uint32) [][]byte {
	tb.Helper()
	out := make([][]byte, len(pkts))
	for i, b := range pkts {
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			tb.Fatal(err)
		}
		p.SSRC = ssrc
		m, err := p.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = m
	}

	return out
}

// TestBridgeReplaceTrunk: a transfer gives the call another trunk leg,
// another party with another codec, while the bridge runs. Once the old
// leg is closed by its owner the bridge goes on with the new one: the new
// party hears the browser in its codec, the browser hears the new party
// in one continuous stream, every packet of the new source decoded even
// numbered just behind the old one, and nothing more reaches the old leg.
// The new party may speak the old codec or another.
func TestBridgeReplaceTrunk(t *testing.T) {
	for _, c := range []telephony.Codec{telephony.PCMA, telephony.PCMU} {
		t.Run(c.Name, func(t *testing.T) { testReplaceTrunk(t, c) })
	}
}

func testReplaceTrunk(t *testing.T, codec telephony.Codec) {
	r := start(t, testConfig())
	r.browser.feed(t, browserPackets(t, 20, 440)...)
	r.trunk.feed(t, trunkPackets(t, 20, 1000)...)
	browserMark := len(r.browser.packets())

	next := newMemLeg()
	old, prev, cur, err := r.b.ReplaceTrunk(next, TrunkMedia{Codec: codec, EventPT: 96})
	if err != nil || old != r.trunk || prev != testConfig().TrunkMedia || cur.Codec.Name != codec.Name || cur.EventPT != 96 {
		t.Fatalf("ReplaceTrunk = %v, %v, %v, %v", old, prev, cur, err)
	}
	oldMark := len(r.trunk.packets())
	_ = r.trunk.Close() // its owner ends the old call

	r.browser.feed(t, browserPackets(t, 60, 440)[20:]...)
	if n := len(r.trunk.packets()); n != oldMark {
		t.Errorf("the old leg got %d packets after the swap", n-oldMark)
	}
	toNew := next.packets()
	if len(toNew) == 0 {
		t.Fatal("the new leg got nothing")
	}
	for _, p := range toNew {
		if p.PayloadType != codec.PayloadType {
			t.Fatalf("the new leg got payload type %d, want %d", p.PayloadType, codec.PayloadType)
		}
	}
	testcodec.AssertToneLevel(t, testcodec.G711Audio(toNew, codec), 440, 1000)

	// The new party's stream: another SSRC, numbered just behind the old
	// stream (7..26), another tone.
	next.feed(t, withSSRC(t, testcodec.G711Packets(t, codec, 50, 1500, 3, 900), 99)...)
	toBrowser := r.browser.packets()[browserMark:]
	if len(toBrowser) != 50 {
		t.Fatalf("the browser got %d packets for the new party's 50", len(toBrowser))
	}
	all := r.browser.packets()
	for i := 1; i < len(all); i++ {
		if p, q := all[i], all[i-1]; p.SequenceNumber != q.SequenceNumber+1 || p.Timestamp != q.Timestamp+960 || p.SSRC != q.SSRC {
			t.Fatalf("browser packet %d: seq %d ts %d after seq %d ts %d: the stream broke", i, p.SequenceNumber, p.Timestamp, q.SequenceNumber, q.Timestamp)
		}
	}
	heard := opusAudio(t, all)
	testcodec.AssertToneLevel(t, heard[len(heard)-secondOfAudio/2:], 1500, 1000)
	if st := r.b.Downlink(); st.Received != 70 || st.Dropped != 0 {
		t.Errorf("downlink received %d, dropped %d; want 70 and none", st.Received, st.Dropped)
	}

	// A codec the bridge cannot carry changes nothing.
	other := newMemLeg()
	if _, _, now, err := r.b.ReplaceTrunk(other, TrunkMedia{Codec: telephony.Opus}); !errors.Is(err, transcode.ErrUnsupportedCodec) || now != cur {
		t.Errorf("ReplaceTrunk(opus) = %v, %v; want ErrUnsupportedCodec, keeping %v", now, err, cur)
	}
	before := len(next.packets())
	r.browser.feed(t, browserPackets(t, 65, 440)[60:]...)
	if len(next.packets()) == before || len(other.packets()) != 0 {
		t.Error("a refused ReplaceTrunk moved the uplink")
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !next.isClosed() {
		t.Error("Run did not close the trunk's current leg")
	}
}

// TestBridgeAwaitTrunk: while a transfer is placed (AwaitTrunk) the old
// party may hang up, closing the trunk's leg before its replacement
// exists; the downlink waits for the new leg instead of ending, and the
// browser hears the new party once it comes.
func TestBridgeAwaitTrunk(t *testing.T) {
	r := start(t, testConfig())
	r.trunk.feed(t, trunkPackets(t, 10, 1000)...)
	r.b.AwaitTrunk(true)
	_ = r.trunk.Close()
	r.browser.feed(t, browserPackets(t, 10, 440)...) // the uplink goes on meanwhile
	mark := len(r.browser.packets())
	next := newMemLeg()
	if _, _, _, err := r.b.ReplaceTrunk(next, TrunkMedia{Codec: telephony.PCMU, EventPT: testTrunkTE}); err != nil {
		t.Fatal(err)
	}
	next.feed(t, withSSRC(t, testcodec.G711Packets(t, telephony.PCMU, 20, 1500, 9000, 100), 5)...)
	if n := len(r.browser.packets()) - mark; n != 20 {
		t.Errorf("the browser got %d packets of the new party's 20", n)
	}
}
