package gateway

import (
	"errors"
	"testing"

	"github.com/webtrunk/webtrunk/transcode"
)

func TestDTMFSenderTiming(t *testing.T) {
	rec := &trunkRecorder{keep: true}
	u, _, _ := newTestUplink(t, rec)
	if err := u.gen.enqueue("1#"); err != nil {
		t.Fatal(err)
	}
	for _, b := range browserPackets(t, 40, 440) {
		u.handle(b)
	}
	type ev struct {
		code     uint8
		end      bool
		duration uint16
		ts       uint32
		marker   bool
	}
	var events []ev
	var audio int
	for _, p := range rec.packets {
		if p.PayloadType != testTrunkTE {
			audio++

			continue
		}
		var e transcode.Event
		if err := e.Unmarshal(p.Payload); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev{e.Code, e.End, e.Duration, p.Timestamp, p.Marker})
	}
	per := dtmfToneFrames + dtmfEndPackets
	if len(events) != 2*per {
		t.Fatalf("%d event packets, want %d", len(events), 2*per)
	}
	for d, code := range []uint8{1, 11} {
		digit := events[d*per : (d+1)*per]
		for i, e := range digit {
			if e.code != code || e.ts != digit[0].ts {
				t.Errorf("digit %d packet %d: code %d ts %d, want %d ts %d", d, i, e.code, e.ts, code, digit[0].ts)
			}
			if e.marker != (i == 0) {
				t.Errorf("digit %d packet %d: marker %v", d, i, e.marker)
			}
			wantEnd := i >= dtmfToneFrames
			if e.end != wantEnd {
				t.Errorf("digit %d packet %d: end %v, want %v", d, i, e.end, wantEnd)
			}
			wantDur := uint16(160 * min(i+1, dtmfToneFrames))
			if e.duration != wantDur {
				t.Errorf("digit %d packet %d: duration %d, want %d", d, i, e.duration, wantDur)
			}
		}
	}
	if gap := events[per].ts - events[0].ts; gap != 160*uint32(per+dtmfGapFrames) {
		t.Errorf("second digit starts %d samples after the first, want %d", gap, 160*(per+dtmfGapFrames))
	}
	if audio == 0 {
		t.Error("no audio around the digits")
	}
	// Sequence numbers stay one stream.
	for i := 1; i < len(rec.packets); i++ {
		if rec.packets[i].SequenceNumber != rec.packets[i-1].SequenceNumber+1 {
			t.Fatalf("sequence breaks at packet %d", i)
		}
	}
}

func TestDTMFSenderRejects(t *testing.T) {
	d := newDTMFSender()
	if err := d.enqueue("12x"); !errors.Is(err, errDTMFDigit) {
		t.Errorf("enqueue(12x) = %v, want errDTMFDigit", err)
	}
	if d.pending.Load() {
		t.Error("an invalid request queued digits")
	}
	for range dtmfQueueSize / 32 {
		if err := d.enqueue("12345678901234567890123456789012"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.enqueue("1"); !errors.Is(err, errDTMFQueueFull) {
		t.Errorf("enqueue on a full queue = %v, want errDTMFQueueFull", err)
	}
}
