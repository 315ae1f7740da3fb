package transcode

import (
	"errors"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/telephony"
)

func TestEventRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		payload []byte
	}{
		{"digit 5 start", Event{Code: 5, Volume: 10, Duration: 160}, []byte{5, 10, 0x00, 0xA0}},
		{"# end", Event{Code: 11, End: true, Volume: 63, Duration: 0xFFFF}, []byte{11, 0x80 | 63, 0xFF, 0xFF}},
		{"flash hook", Event{Code: 16, Duration: 800}, []byte{16, 0, 0x03, 0x20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf [4]byte
			n, err := tc.ev.MarshalTo(buf[:])
			if err != nil || n != 4 {
				t.Fatalf("MarshalTo = %d, %v", n, err)
			}
			if string(buf[:]) != string(tc.payload) {
				t.Errorf("payload % x, want % x", buf, tc.payload)
			}
			var got Event
			if err := got.Unmarshal(tc.payload); err != nil {
				t.Fatal(err)
			}
			if got != tc.ev {
				t.Errorf("Unmarshal = %+v, want %+v", got, tc.ev)
			}
		})
	}
}

func TestEventErrors(t *testing.T) {
	var e Event
	for n := range 4 {
		if err := e.Unmarshal(make([]byte, n)); !errors.Is(err, ErrShortPayload) {
			t.Errorf("%d-byte payload: %v, want ErrShortPayload", n, err)
		}
	}
	if err := e.Unmarshal([]byte{1, 0x40 | 5, 0, 1}); err != nil || e.Volume != 5 {
		t.Errorf("R bit not ignored: %+v, %v", e, err)
	}
	if _, err := (Event{}).MarshalTo(make([]byte, 3)); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short dst: %v", err)
	}
	if _, err := (Event{Volume: 64}).MarshalTo(make([]byte, 4)); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("volume 64: %v", err)
	}
}

func TestDigits(t *testing.T) {
	for code := range uint8(16) {
		r, ok := DigitForEvent(code)
		if !ok {
			t.Fatalf("no digit for event %d", code)
		}
		back, ok := EventForDigit(r)
		if !ok || back != code {
			t.Errorf("digit %q maps back to %d, %v", r, back, ok)
		}
	}
	for _, tc := range []struct {
		r    rune
		code uint8
		ok   bool
	}{{'0', 0, true}, {'9', 9, true}, {'*', 10, true}, {'#', 11, true}, {'A', 12, true}, {'d', 15, true}, {'E', 0, false}, {'+', 0, false}} {
		if code, ok := EventForDigit(tc.r); code != tc.code || ok != tc.ok {
			t.Errorf("EventForDigit(%q) = %d, %v; want %d, %v", tc.r, code, ok, tc.code, tc.ok)
		}
	}
	if _, ok := DigitForEvent(16); ok {
		t.Error("event 16 is not a DTMF digit")
	}
}

// eventPacket builds one telephone-event packet.
func eventPacket(tb testing.TB, pt uint8, ts uint32, marker bool, ev Event) *rtp.Packet {
	tb.Helper()
	buf := make([]byte, 4)
	if _, err := ev.MarshalTo(buf); err != nil {
		tb.Fatal(err)
	}
	return &rtp.Packet{Header: rtp.Header{PayloadType: pt, Timestamp: ts, Marker: marker}, Payload: buf}
}

func TestDTMFMapper(t *testing.T) {
	browser48 := telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 126}
	browser8 := telephony.TelephoneEvent8k.WithPayloadType(110)
	trunk := telephony.TelephoneEvent8k
	// A digit '7' of 100 ms: start, two updates, three end packets.
	type pkt struct {
		dur    uint16
		end    bool
		marker bool
	}
	seq := []pkt{{0, false, true}, {1, false, false}, {2, false, false}, {3, true, false}, {3, true, false}, {3, true, false}}
	tests := []struct {
		name      string
		in        telephony.Codec
		step      uint16 // input duration per unit
		startIn   uint32
		wantStart uint32
		wantStep  uint16
	}{
		{"browser 48 kHz to trunk 8 kHz", browser48, 320 * 6, 960000, 160000, 320},
		{"browser 8 kHz to trunk 8 kHz", browser8, 320, 160000, 160000, 320},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewDTMFMapper(tc.in, trunk, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out rtp.Header
			dst := make([]byte, 4)
			for i, p := range seq {
				in := eventPacket(t, tc.in.PayloadType, tc.startIn, p.marker, Event{Code: 7, End: p.end, Volume: 10, Duration: p.dur * tc.step})
				n, err := m.Map(in, &out, dst)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				var ev Event
				if err := ev.Unmarshal(dst[:n]); err != nil {
					t.Fatal(err)
				}
				if out.PayloadType != trunk.PayloadType || out.Timestamp != tc.wantStart || out.Marker != (i == 0) {
					t.Errorf("packet %d: pt %d ts %d marker %v; want pt %d ts %d marker %v", i, out.PayloadType, out.Timestamp, out.Marker, trunk.PayloadType, tc.wantStart, i == 0)
				}
				if want := p.dur * tc.wantStep; ev.Duration != want || ev.End != p.end || ev.Code != 7 || ev.Volume != 10 {
					t.Errorf("packet %d: %+v, want duration %d end %v", i, ev, want, p.end)
				}
			}
			// The next digit starts 200 ms later on the output clock.
			next := eventPacket(t, tc.in.PayloadType, tc.startIn+uint32(tc.in.ClockRate/5), true, Event{Code: 8})
			if _, err := m.Map(next, &out, dst); err != nil {
				t.Fatal(err)
			}
			if out.Timestamp != tc.wantStart+1600 || !out.Marker {
				t.Errorf("second event at %d (marker %v), want %d", out.Timestamp, out.Marker, tc.wantStart+1600)
			}
			if s := m.Stats(); s.Events != 2 || s.Packets != 7 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// fixedTimeline maps by a constant offset, standing in for an Uplink.
type fixedTimeline struct{ offset uint32 }

func (f fixedTimeline) MapTimestamp(ts uint32) uint32 { return ts/6 + f.offset }

func TestDTMFMapperTimelineAndErrors(t *testing.T) {
	in := telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 126}
	m, err := NewDTMFMapper(in, telephony.TelephoneEvent8k, fixedTimeline{offset: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out rtp.Header
	dst := make([]byte, 4)
	if _, err := m.Map(eventPacket(t, 126, 48000, true, Event{Code: 1}), &out, dst); err != nil || out.Timestamp != 9000 {
		t.Errorf("timeline start %d, %v; want 9000", out.Timestamp, err)
	}
	errCases := []struct {
		name string
		pkt  *rtp.Packet
		dst  []byte
		err  error
	}{
		{"audio payload type", &rtp.Packet{Header: rtp.Header{PayloadType: 111}, Payload: []byte{1, 2, 3, 4}}, dst, ErrPayloadType},
		{"short payload", &rtp.Packet{Header: rtp.Header{PayloadType: 126}, Payload: []byte{1, 2}}, dst, ErrShortPayload},
		{"short dst", eventPacket(t, 126, 1, false, Event{}), dst[:2], ErrShortBuffer},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Map(tc.pkt, &out, tc.dst); !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
	if _, err := NewDTMFMapper(telephony.PCMU, telephony.TelephoneEvent8k, nil); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("PCMU accepted as telephone-event: %v", err)
	}
}

// TestDTMFMapperWithUplink lines events up with the uplink's audio frames.
func TestDTMFMapperWithUplink(t *testing.T) {
	pk := opusPackets(t, 3, 20)
	up := mustUplink(t, telephony.Opus, telephony.PCMU)
	var audioTS []uint32
	for i, p := range pk {
		if err := up.Push(uint16(i), uint32(7777+i*960), p); err != nil {
			t.Fatal(err)
		}
		for _, f := range drainFrames(up.Next, up.MaxPayloadSize()) {
			audioTS = append(audioTS, f.ts)
		}
	}
	m, err := NewDTMFMapper(telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 126}, telephony.TelephoneEvent8k, up)
	if err != nil {
		t.Fatal(err)
	}
	var out rtp.Header
	buf := make([]byte, up.MaxPayloadSize())
	// An event starting with the third audio packet starts with its frame.
	if _, err := m.Map(eventPacket(t, 126, 7777+2*960, true, Event{Code: 3}), &out, buf); err != nil {
		t.Fatal(err)
	}
	if out.Timestamp != audioTS[2] {
		t.Errorf("event at %d, audio frame at %d", out.Timestamp, audioTS[2])
	}
}

// A trunk's re-INVITE may move telephone-event to another payload type.
func TestDTMFMapperSetOutput(t *testing.T) {
	browser := telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 110}
	m, err := NewDTMFMapper(browser, telephony.TelephoneEvent8k, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One event of three packets; the trunk's payload type changes from
	// 101 to 96 after the first.
	var out [3]rtp.Header
	dst := make([]byte, 4)
	for i := range out {
		if i == 1 {
			for _, c := range []telephony.Codec{telephony.PCMU, {Name: "telephone-event", ClockRate: 48000, PayloadType: 96}} {
				if err := m.SetOutput(c); !errors.Is(err, ErrUnsupportedCodec) {
					t.Errorf("SetOutput(%s) = %v, want ErrUnsupportedCodec", c, err)
				}
			}
			if m.Output() != telephony.TelephoneEvent8k {
				t.Fatalf("refused SetOutput changed the output to %s", m.Output())
			}
			if err := m.SetOutput(telephony.TelephoneEvent8k.WithPayloadType(96)); err != nil {
				t.Fatal(err)
			}
		}
		in := eventPacket(t, 110, 480000, i == 0, Event{Code: 4, Duration: uint16(960 * (i + 1))})
		if _, err := m.Map(in, &out[i], dst); err != nil {
			t.Fatal(err)
		}
	}
	if out[0].PayloadType != 101 || out[1].PayloadType != 96 || out[2].PayloadType != 96 {
		t.Errorf("payload types %d, %d, %d; want 101, then 96 after SetOutput", out[0].PayloadType, out[1].PayloadType, out[2].PayloadType)
	}
	for i, h := range out {
		if h.Timestamp != 80000 {
			t.Errorf("packet %d: timestamp %d, want the event's start 80000", i, h.Timestamp)
		}
	}
	if !out[0].Marker || !out[1].Marker || out[2].Marker {
		t.Errorf("markers %v, %v, %v; want the first packet under each payload type marked", out[0].Marker, out[1].Marker, out[2].Marker)
	}
}
