package bridge

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/transcode"
)

// TestUplinkRegeneratesEndOnlyDigits: Chromium, answered with
// telephone-event at both clocks, reports each digit as three marked end
// packets in one burst on the 8 kHz payload type. The trunk still
// receives each digit as a well-formed event (RFC 4733 section 2.5.1):
// a marked start, updates and three ends, with the duration the browser
// sent, in the audio stream's sequence numbers and timeline.
func TestUplinkRegeneratesEndOnlyDigits(t *testing.T) {
	r := start(t, testConfig())
	audio := browserPackets(t, 60, 440)
	r.browser.feed(t, audio[:5]...)
	var last rtp.Packet
	for i, digit := range []uint8{1, 11} {
		if err := last.Unmarshal(audio[5+20*i-1]); err != nil {
			t.Fatal(err)
		}
		ts := uint32(8000 * (i + 1))
		for j := range 3 {
			r.browser.feed(t, eventPacket(t, testBrowserTE8, last.SequenceNumber+uint16(j)+1, ts, true,
				transcode.Event{Code: digit, End: true, Volume: 10, Duration: 960}))
		}
		r.browser.feed(t, audio[5+20*i:5+20*(i+1)]...)
	}
	got := r.trunk.packets()
	events, err := testcodec.WellFormedEvents(got, testTrunkTE, true)
	if err != nil {
		t.Fatalf("trunk's events: %v", err)
	}
	if len(events) != 2 || events[0].Digit != '1' || events[1].Digit != '#' {
		t.Fatalf("trunk's events %+v, want 1 and #", events)
	}
	for _, e := range events {
		if e.Duration != 960 || e.Packets != 6+testcodec.EndPackets {
			t.Errorf("event %+v: want duration 960 as sent, in 6 updates and %d ends", e, testcodec.EndPackets)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("the trunk's stream breaks at packet %d", i)
		}
	}
	if d := r.b.Uplink().Dropped; d != 0 {
		t.Errorf("%d packets dropped", d)
	}
}
