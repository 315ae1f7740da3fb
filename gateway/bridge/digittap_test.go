package bridge

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/transcode"
)

// tapped is one digit OnBrowserDigit reported.
type tapped struct {
	digit rune
	dur   time.Duration
}

// TestBridgeBrowserDigitsOut: with OnBrowserDigit set, the browser's
// events, at either clock, are reported once per key press (however many
// end packets) with their duration, and none reaches the trunk, whose
// audio goes on.
func TestBridgeBrowserDigitsOut(t *testing.T) {
	cfg := testConfig()
	got := make(chan tapped, 16)
	cfg.OnBrowserDigit = func(d rune, dur time.Duration) { got <- tapped{d, dur} }
	r := start(t, cfg)
	pkts := browserPackets(t, 30, 440)
	r.browser.feed(t, pkts...)
	var last rtp.Packet
	if err := last.Unmarshal(pkts[len(pkts)-1]); err != nil {
		t.Fatal(err)
	}
	seq := last.SequenceNumber
	// 9 at 48 kHz: start, update, three ends of 2880 samples (60 ms).
	for i, ev := range []transcode.Event{{Code: 9, Duration: 960}, {Code: 9, Duration: 1920}, {Code: 9, End: true, Duration: 2880},
		{Code: 9, End: true, Duration: 2880}, {Code: 9, End: true, Duration: 2880}} {
		seq++
		r.browser.feed(t, eventPacket(t, testBrowserTE, seq, last.Timestamp+960, i == 0, ev))
	}
	// # at 8 kHz as Chromium sends it: three ends only, 800 samples (100 ms).
	for i := range 3 {
		seq++
		r.browser.feed(t, eventPacket(t, testBrowserTE8, seq, last.Timestamp+20000, i == 0, transcode.Event{Code: 11, End: true, Duration: 800}))
	}
	for _, want := range []tapped{{'9', 60 * time.Millisecond}, {'#', 100 * time.Millisecond}} {
		select {
		case d := <-got:
			if d != want {
				t.Errorf("reported %q %v, want %q %v", d.digit, d.dur, want.digit, want.dur)
			}
		case <-time.After(feedTimeout):
			t.Fatalf("no digit %q", want.digit)
		}
	}
	r.browser.feed(t, browserPackets(t, 10, 440)...)
	select {
	case d := <-got:
		t.Errorf("extra digit %q: each key press must be reported once", d.digit)
	default:
	}
	if digits := testcodec.Digits(r.trunk.packets(), testTrunkTE); digits != "" {
		t.Errorf("the trunk heard digits %q, want none", digits)
	}
}

// TestDigitTapDoesNotAllocate: reporting the browser's digits costs no
// allocation per packet.
func TestDigitTapDoesNotAllocate(t *testing.T) {
	cfg := testConfig()
	cfg.Browser, cfg.Trunk = discard{}, discard{}
	n := 0
	cfg.OnBrowserDigit = func(rune, time.Duration) { n++ }
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []rtp.Packet
	for i := range 5 {
		pkts = append(pkts, parsed(t, [][]byte{eventPacket(t, testBrowserTE, 0, 0, i == 0, transcode.Event{Code: 5, End: i >= 2, Duration: uint16(960 * (i + 1))})})...)
	}
	allocs := allocsPerPacket(300, 960, func(i int) *rtp.Packet {
		p := &pkts[i%len(pkts)]

		return p
	}, b.up.handle)
	if allocs != 0 {
		t.Errorf("the digit tap allocates %v times per packet", allocs)
	}
	if n == 0 {
		t.Error("no digit reported")
	}
}

// BenchmarkUplinkEvent measures one telephone-event packet of the browser
// mapped onto the trunk's stream (the default) and taken out of it by
// OnBrowserDigit, in one binary so that the two can be compared
// interleaved.
func BenchmarkUplinkEvent(b *testing.B) {
	var raw [][]byte
	for i := range 5 {
		raw = append(raw, eventPacket(b, testBrowserTE, 0, 0, i == 0, transcode.Event{Code: 5, End: i >= 2, Duration: uint16(960 * (i + 1))}))
	}
	for _, tapped := range []bool{false, true} {
		name := "mapped"
		if tapped {
			name = "tapped"
		}
		b.Run(name, func(b *testing.B) {
			cfg := testConfig()
			cfg.Browser, cfg.Trunk = discard{}, discard{}
			if tapped {
				cfg.OnBrowserDigit = func(rune, time.Duration) {}
			}
			br, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			benchPackets(b, parsed(b, raw), 960, br.up.handle)
		})
	}
}
