package bridge

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// secondOfAudio is one second of 8 kHz audio, in samples.
const secondOfAudio = 8000

// TestBridgeCarriesTonesBothWays: each side hears the other's tone, not
// its own, while both directions run at once.
func TestBridgeCarriesTonesBothWays(t *testing.T) {
	r := start(t, testConfig())
	fromBrowser := browserPackets(t, 100, 440)
	fromTrunk := trunkPackets(t, 100, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.browser.feed(t, fromBrowser...)
	}()
	r.trunk.feed(t, fromTrunk...)
	<-done

	heardByTrunk := testcodec.G711Audio(r.trunk.packets(), telephony.PCMU)
	heardByBrowser := opusAudio(t, r.browser.packets())
	if len(heardByTrunk) < 2*secondOfAudio-secondOfAudio/10 || len(heardByBrowser) < 2*secondOfAudio-secondOfAudio/10 {
		t.Fatalf("2 s sent each way; the trunk heard %d samples, the browser %d", len(heardByTrunk), len(heardByBrowser))
	}
	// The first 100 ms are codec start-up.
	testcodec.AssertTone(t, heardByTrunk[800:], 440, 1000)
	testcodec.AssertTone(t, heardByBrowser[800:], 1000, 440)
	up, down := r.b.Uplink(), r.b.Downlink()
	if up.Received != 100 || down.Received != 100 || up.Lost != 0 || down.Lost != 0 || up.Dropped != 0 || down.Dropped != 0 {
		t.Errorf("uplink %+v, downlink %+v: want 100 received each, nothing lost or dropped", up, down)
	}
	if up.Sent < 95 || down.Sent < 95 || up.LastPacket == 0 || down.LastPacket == 0 || up.Transcode == 0 {
		t.Errorf("uplink %+v, downlink %+v: want every packet sent, arrival and transcoding time", up, down)
	}
}

// TestBridgeDTMFBothWays: digits asked for reach the trunk as RFC 4733
// events of its payload type, the browser's own events are mapped onto the
// trunk's, and the trunk's digits are reported once each.
func TestBridgeDTMFBothWays(t *testing.T) {
	r := start(t, testConfig())
	if err := r.b.SendDTMF("5#"); err != nil {
		t.Fatal(err)
	}
	pkts := browserPackets(t, 60, 440)
	r.browser.feed(t, pkts...)
	// The browser presses 9 with its 48 kHz events, after the generated
	// digits, at the time of its last audio packet.
	var last rtp.Packet
	if err := last.Unmarshal(pkts[len(pkts)-1]); err != nil {
		t.Fatal(err)
	}
	for i, ev := range []transcode.Event{{Code: 9, Duration: 960}, {Code: 9, Duration: 1920}, {Code: 9, End: true, Duration: 2880}} {
		r.browser.feed(t, eventPacket(t, testBrowserTE, last.SequenceNumber+uint16(1+i), last.Timestamp+960, i == 0, ev))
	}
	if got := testcodec.Digits(r.trunk.packets(), testTrunkTE); got != "5#9" {
		t.Errorf("the trunk heard digits %q, want 5#9", got)
	}

	seq := uint16(1)
	for _, ev := range []struct {
		code uint8
		ts   uint32
	}{{7, 1000}, {11, 3000}} {
		for i := range 5 {
			e := transcode.Event{Code: ev.code, End: i >= 2, Duration: uint16(160 * min(i+1, 3))}
			r.trunk.feed(t, eventPacket(t, testTrunkTE, seq, ev.ts, i == 0, e))
			seq++
		}
	}
	for _, want := range "7#" {
		select {
		case d := <-r.digits:
			if d != want {
				t.Errorf("the browser got digit %q, want %q", d, want)
			}
		case <-time.After(feedTimeout):
			t.Fatalf("no digit %q", want)
		}
	}
	select {
	case d := <-r.digits:
		t.Errorf("extra digit %q: each event must be reported once", d)
	default:
	}
}

// TestBridgeHoldSendsSilence: while muted the trunk hears G.711 silence of
// its codec, in a stream that goes on; unmuted, the browser's tone again.
func TestBridgeHoldSendsSilence(t *testing.T) {
	r := start(t, testConfig())
	pkts := browserPackets(t, 60, 440)
	r.browser.feed(t, pkts[:10]...)
	r.b.SetMuted(true)
	held := len(r.trunk.packets())
	r.browser.feed(t, pkts[10:30]...)
	r.b.SetMuted(false)
	resumed := len(r.trunk.packets())
	r.browser.feed(t, pkts[30:]...)

	got := r.trunk.packets()
	if resumed-held < 15 {
		t.Fatalf("a held call sent %d packets for 20, want the stream to go on", resumed-held)
	}
	for i, p := range got[held:resumed] {
		for _, x := range p.Payload {
			if x != transcode.SilencePCMU {
				t.Fatalf("held packet %d carries %#x, want PCMU silence", i, x)
			}
		}
	}
	testcodec.AssertTone(t, testcodec.G711Audio(got[resumed:], telephony.PCMU), 440, 1000)
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("the stream breaks at packet %d", i)
		}
	}
}

// TestBridgeFollowsTrunkCodec: after the trunk changes to A-law with
// another telephone-event payload type, the trunk hears the browser's tone
// in A-law, the browser hears the trunk's A-law tone at its level, and
// the new telephone-event payload type carries digits both ways.
func TestBridgeFollowsTrunkCodec(t *testing.T) {
	r := start(t, testConfig())
	r.browser.feed(t, browserPackets(t, 20, 440)...)
	r.trunk.feed(t, trunkPackets(t, 20, 1000)...)
	pcma := TrunkMedia{Codec: telephony.PCMA, EventPT: 96}
	old, cur, err := r.b.FollowTrunk(pcma)
	if err != nil || old != testConfig().TrunkMedia || cur.Codec.Name != "PCMA" || cur.Codec.PayloadType != 8 || cur.EventPT != 96 {
		t.Fatalf("FollowTrunk = %v, %v, %v", old, cur, err)
	}
	if r.b.TrunkMedia() != cur {
		t.Errorf("TrunkMedia = %v, want %v", r.b.TrunkMedia(), cur)
	}
	mark, browserMark := len(r.trunk.packets()), len(r.browser.packets())
	// A late packet of the old codec is not decoded as the new one.
	r.trunk.feed(t, testcodec.G711Packets(t, telephony.PCMU, 1, 1000, 27, 5000+160*20)[0])
	r.browser.feed(t, browserPackets(t, 60, 440)[20:]...)
	// The trunk's new stream starts elsewhere.
	r.trunk.feed(t, testcodec.G711Packets(t, telephony.PCMA, 50, 1000, 40000, 123456)...)
	if st := r.b.Downlink(); st.Dropped != 1 {
		t.Errorf("downlink dropped %d packets, want 1 (the old codec's after the change)", st.Dropped)
	}

	// The trunk hears the browser in A-law, in the same RTP stream.
	toTrunk := r.trunk.packets()
	for i := 1; i < len(toTrunk); i++ {
		p, prev := toTrunk[i], toTrunk[i-1]
		want := uint8(testTrunkPCMU)
		if i >= mark {
			want = 8
		}
		if p.PayloadType != want || p.SSRC != prev.SSRC || p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160 || p.Marker {
			t.Fatalf("trunk packet %d: pt %d ssrc %#x seq %d ts %d marker %v after ssrc %#x seq %d ts %d; want pt %d in one stream",
				i, p.PayloadType, p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, prev.SSRC, prev.SequenceNumber, prev.Timestamp, want)
		}
	}
	testcodec.AssertToneLevel(t, testcodec.G711Audio(toTrunk[mark:], telephony.PCMA), 440, 1000)
	// The browser hears the trunk's A-law tone at its level, in the same
	// stream.
	toBrowser := r.browser.packets()
	if n := len(toBrowser) - browserMark; n != 50 {
		t.Errorf("the browser got %d packets for 50 A-law packets", n)
	}
	for i := 1; i < len(toBrowser); i++ {
		if p, prev := toBrowser[i], toBrowser[i-1]; p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+960 {
			t.Fatalf("browser packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
		}
	}
	heard := opusAudio(t, toBrowser)
	testcodec.AssertToneLevel(t, heard[len(heard)-secondOfAudio/2:], 1000, 440)

	if err := r.b.SendDTMF("3"); err != nil {
		t.Fatal(err)
	}
	before := len(r.trunk.packets())
	r.browser.feed(t, browserPackets(t, 80, 440)[60:]...)
	if got := testcodec.Digits(r.trunk.packets()[before:], 96); got != "3" {
		t.Errorf("the trunk heard digits %q on the new payload type, want 3", got)
	}
	for i := range 4 {
		r.trunk.feed(t, eventPacket(t, 96, uint16(40100+i), 200000, i == 0, transcode.Event{Code: 4, End: i > 0, Duration: 480}))
	}
	select {
	case d := <-r.digits:
		if d != '4' {
			t.Errorf("digit %q, want 4", d)
		}
	case <-time.After(feedTimeout):
		t.Fatal("the trunk's digit on the new payload type was not reported")
	}

	// Held, the trunk hears A-law silence.
	r.b.SetMuted(true)
	held := len(r.trunk.packets())
	r.browser.feed(t, browserPackets(t, 85, 440)[80:]...)
	for _, p := range r.trunk.packets()[held:] {
		for _, x := range p.Payload {
			if x != transcode.SilencePCMA {
				t.Fatalf("a held call sends %#x, want A-law silence %#x", x, transcode.SilencePCMA)
			}
		}
	}

	// A codec the bridge cannot carry changes nothing.
	if _, now, err := r.b.FollowTrunk(TrunkMedia{Codec: telephony.Opus}); !errors.Is(err, transcode.ErrUnsupportedCodec) || now != cur {
		t.Errorf("FollowTrunk(opus) = %v, %v; want ErrUnsupportedCodec, keeping %v", now, err, cur)
	}
}

// TestBridgeSendDTMFNeedsTelephoneEvent: digits are refused, and nothing
// is queued, while the trunk has no telephone-event, and invalid digits
// are refused with transcode's errors.
func TestBridgeSendDTMFNeedsTelephoneEvent(t *testing.T) {
	cfg := testConfig()
	cfg.TrunkMedia.EventPT = 0
	r := start(t, cfg)
	if err := r.b.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("SendDTMF without telephone-event = %v, want ErrNoTelephoneEvent", err)
	}
	if _, _, err := r.b.FollowTrunk(TrunkMedia{Codec: telephony.PCMU, EventPT: testTrunkTE}); err != nil {
		t.Fatal(err)
	}
	if err := r.b.SendDTMF("1x"); !errors.Is(err, transcode.ErrDTMFDigit) {
		t.Errorf("SendDTMF(1x) = %v, want transcode.ErrDTMFDigit", err)
	}
	r.browser.feed(t, browserPackets(t, 20, 440)...)
	if got := testcodec.Digits(r.trunk.packets(), testTrunkTE); got != "" {
		t.Errorf("refused requests sent digits %q", got)
	}
}

// TestBridgeCountsLossAsRTCP: loss per direction is RFC 3550's cumulative
// lost: a gap counts, a late packet filling it counts back, and a source
// that restarts its numbering keeps the loss counted before.
func TestBridgeCountsLossAsRTCP(t *testing.T) {
	r := start(t, testConfig())
	pkts := trunkPackets(t, 10, 1000)
	r.trunk.feed(t, pkts[0], pkts[1], pkts[4], pkts[5])
	if got := r.b.Downlink().Lost; got != 2 {
		t.Errorf("lost after a gap of 2 = %d, want 2", got)
	}
	r.trunk.feed(t, pkts[2])
	if got := r.b.Downlink().Lost; got != 1 {
		t.Errorf("lost after a late packet = %d, want 1", got)
	}
	// A new stream far away: the first packet is a jump, the next confirms
	// the restart; one more gap after it.
	restarted := testcodec.G711Packets(t, telephony.PCMU, 5, 1000, 30000, 999)
	r.trunk.feed(t, restarted[0], restarted[1], restarted[3])
	if got := r.b.Downlink().Lost; got != 2 {
		t.Errorf("lost across a restart = %d, want 1 before it and 1 after", got)
	}
	// Malformed packets and unknown payload types are dropped, not lost.
	r.trunk.feed(t, []byte{0x80}, eventPacket(t, 63, 30004, 999+640, false, transcode.Event{}))
	if st := r.b.Downlink(); st.Dropped != 2 || st.Lost != 2 {
		t.Errorf("downlink %+v, want 2 dropped and still 2 lost", st)
	}
}

// TestRunEnds: Run closes both legs and returns nil when its context ends;
// a leg its owner closed ends its direction quietly; a leg that fails ends
// only its direction, and Run reports the failure by direction; a Bridge
// runs once.
func TestRunEnds(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		r := start(t, testConfig())
		r.browser.feed(t, browserPackets(t, 3, 440)...)
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if !r.browser.isClosed() || !r.trunk.isClosed() {
			t.Error("Run left a leg open")
		}
		if err := r.b.Run(context.Background()); !errors.Is(err, ErrRunTwice) {
			t.Errorf("second Run = %v, want ErrRunTwice", err)
		}
	})
	t.Run("leg closed by its owner", func(t *testing.T) {
		r := start(t, testConfig())
		_ = r.trunk.Close()
		r.browser.feed(t, browserPackets(t, 3, 440)...) // the uplink goes on
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("leg fails", func(t *testing.T) {
		r := start(t, testConfig())
		errBroken := errors.New("broken track")
		r.browser.fail <- errBroken
		r.trunk.feed(t, trunkPackets(t, 3, 1000)...) // the downlink goes on
		if n := len(r.browser.packets()); n != 3 {
			t.Errorf("the browser got %d packets after its uplink failed, want 3", n)
		}
		// Once the other direction ends too, Run returns by itself.
		_ = r.trunk.Close()
		select {
		case err := <-r.done:
			r.done <- nil
			if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "bridge: uplink: ") || errors.Is(err, net.ErrClosed) {
				t.Errorf("Run = %v, want the uplink's failure alone", err)
			}
		case <-time.After(feedTimeout):
			t.Fatal("Run did not return when both directions had ended")
		}
	})
}

// TestNewChecksCodecs: New refuses what the bridge cannot carry and hands
// calls.opus_complexity to the downlink's encoder (transcode refuses a
// value out of range, so it cannot have been dropped on the way).
func TestNewChecksCodecs(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   error
	}{
		{"opus lowest complexity", func(c *Config) { c.OpusComplexity = 0 }, nil},
		{"opus highest complexity", func(c *Config) { c.OpusComplexity = 10 }, nil},
		{"opus complexity out of range", func(c *Config) { c.OpusComplexity = 11 }, transcode.ErrInvalidOption},
		{"opus complexity negative", func(c *Config) { c.OpusComplexity = -1 }, transcode.ErrInvalidOption},
		{"trunk codec not G.711", func(c *Config) { c.TrunkMedia.Codec = telephony.Opus }, transcode.ErrUnsupportedCodec},
		{"no legs", func(c *Config) { c.Browser, c.Trunk = nil, nil }, errNoLeg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Browser, cfg.Trunk = newMemLeg(), newMemLeg()
			tt.change(&cfg)
			b, err := New(cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New error = %v, want %v", err, tt.want)
			}
			if err == nil && !strings.HasPrefix(b.String(), "up: opus/48000 decode") {
				t.Errorf("String = %q", b.String())
			}
		})
	}
}
