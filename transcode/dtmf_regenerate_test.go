package transcode

import (
	"errors"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestDTMFMapperMarksFirstPacketOnly: the output's marker is set on the
// first packet of each event whatever the input's markers say (RFC 4733
// section 2.5.1.1), so a peer that marks every packet still yields one
// marked packet per event.
func TestDTMFMapperMarksFirstPacketOnly(t *testing.T) {
	m, err := NewDTMFMapper(telephony.TelephoneEvent8k.WithPayloadType(126), telephony.TelephoneEvent8k, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out rtp.Header
	dst := make([]byte, EventPayloadSize)
	for i, ev := range []Event{{Code: 1, Duration: 160}, {Code: 1, Duration: 320}, {Code: 1, End: true, Duration: 320}} {
		if _, err := m.Map(eventPacket(t, 126, 8000, true, ev), &out, dst); err != nil {
			t.Fatal(err)
		}
		if out.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v, want %v", i, out.Marker, i == 0)
		}
	}
}

// TestDTMFMapperRegeneratesEndOnlyEvents: events that arrive as end
// packets only (Chromium's three marked end packets) produce nothing of
// their own and leave through the generator as a start packet, updates and
// three end packets with the event's code, volume and duration converted
// to the output clock; well-formed events keep passing through.
func TestDTMFMapperRegeneratesEndOnlyEvents(t *testing.T) {
	tests := []struct {
		name     string
		in       telephony.Codec
		duration uint16 // as sent, input clock
		want     uint16 // output clock
	}{
		{"8 kHz, 120 ms", telephony.TelephoneEvent8k.WithPayloadType(126), 960, 960},
		{"48 kHz, 100 ms", telephony.TelephoneEvent48k.WithPayloadType(110), 4800, 800},
		{"8 kHz, 50 ms", telephony.TelephoneEvent8k.WithPayloadType(126), 400, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewDTMFGenerator()
			m, err := NewDTMFMapper(tc.in, telephony.TelephoneEvent8k, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.Regenerate(g)
			var out rtp.Header
			dst := make([]byte, EventPayloadSize)
			for i := range 3 {
				ev := Event{Code: 5, End: true, Volume: 7, Duration: tc.duration}
				n, err := m.Map(eventPacket(t, tc.in.PayloadType, 4242, true, ev), &out, dst)
				if n != 0 || err != nil || out.PayloadType != 0 || out.Marker {
					t.Fatalf("end-only packet %d: Map = %d, %v, header %+v; want nothing to send", i, n, err, out)
				}
			}
			if s := m.Stats(); s.Regenerated != 1 || s.Events != 1 || s.Packets != 3 {
				t.Errorf("stats %+v, want 1 event of 3 packets regenerated", s)
			}
			got := runGenerator(g, 30)
			updates := int(tc.want+159) / 160
			if len(got) != updates+DTMFEndPackets {
				t.Fatalf("%d generated packets, want %d updates and %d ends", len(got), updates, DTMFEndPackets)
			}
			for i, p := range got {
				wantDur := min(uint16(160*(i+1)), tc.want)
				if p.ev.Code != 5 || p.ev.Volume != 7 || p.ev.Duration != wantDur || p.ev.End != (i >= updates) || p.marker != (i == 0) || p.start != got[0].ts {
					t.Errorf("packet %d: %+v marker %v start %d; want code 5 volume 7 duration %d end %v marker %v start %d",
						i, p.ev, p.marker, p.start, wantDur, i >= updates, i == 0, got[0].ts)
				}
			}

			// A well-formed event that follows passes through.
			n, err := m.Map(eventPacket(t, tc.in.PayloadType, 9999, true, Event{Code: 6, Duration: 160}), &out, dst)
			if err != nil || n != EventPayloadSize || !out.Marker {
				t.Errorf("well-formed start after a regenerated event: %d, %v, marker %v", n, err, out.Marker)
			}
		})
	}
}

// TestDTMFMapperRegenerateQueueFull: an end-only event the generator has
// no room for is refused with ErrDTMFQueueFull and counted.
func TestDTMFMapperRegenerateQueueFull(t *testing.T) {
	g := NewDTMFGenerator()
	for range DTMFQueueSize {
		if err := g.EnqueueEvent(Event{Code: 1, Duration: 160}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewDTMFMapper(telephony.TelephoneEvent8k.WithPayloadType(126), telephony.TelephoneEvent8k, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Regenerate(g)
	var out rtp.Header
	_, err = m.Map(eventPacket(t, 126, 1, true, Event{Code: 2, End: true, Duration: 960}), &out, make([]byte, 4))
	if !errors.Is(err, ErrDTMFQueueFull) || m.Stats().Rejected != 1 {
		t.Errorf("Map on a full generator = %v (rejected %d), want ErrDTMFQueueFull", err, m.Stats().Rejected)
	}
}

// TestDTMFMapperRegenerateDoesNotAllocate: mapping end-only events into
// the generator and stepping it allocate nothing.
func TestDTMFMapperRegenerateDoesNotAllocate(t *testing.T) {
	g := NewDTMFGenerator()
	m, err := NewDTMFMapper(telephony.TelephoneEvent8k.WithPayloadType(126), telephony.TelephoneEvent8k, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Regenerate(g)
	in := eventPacket(t, 126, 0, true, Event{Code: 3, End: true, Duration: 320})
	var out rtp.Header
	var ev Event
	dst := make([]byte, EventPayloadSize)
	ts := uint32(0)
	if allocs := testing.AllocsPerRun(200, func() {
		in.Timestamp += 8000
		_, _ = m.Map(in, &out, dst)
		for range 12 {
			g.Step(ts, 160, &ev)
			ts += 160
		}
	}); allocs != 0 {
		t.Errorf("Map and Step allocate %v times per event", allocs)
	}
}
