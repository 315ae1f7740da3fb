package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// packetLog records the packets a sender writes.
type packetLog struct {
	pkts []rtp.Packet
	fail bool
}

var errWrite = errors.New("write refused")

func (l *packetLog) WriteRTP(p *rtp.Packet) error {
	if l.fail {
		return errWrite
	}
	c := *p
	c.Payload = slices.Clone(p.Payload)
	l.pkts = append(l.pkts, c)

	return nil
}

func TestSlotsDue(t *testing.T) {
	tests := []struct {
		served, cur, first, last int64
	}{
		{0, 1, 1, 1},
		{5, 5, 1, 0}, // nothing new
		{5, 7, 6, 7}, // one dropped tick
		{5, 20, 17, 20},
	}
	for _, tt := range tests {
		first, last := slotsDue(tt.served, tt.cur)
		if first != tt.first || last != tt.last {
			t.Errorf("slotsDue(%d, %d) = %d, %d; want %d, %d", tt.served, tt.cur, first, last, tt.first, tt.last)
		}
	}
}

// TestSenderServe drives the sender's slots by hand: each call's packets
// leave one per 20 ms with consecutive sequence numbers, timestamps one
// frame apart and the frames of its loop in order; skipped frames advance
// the timestamp only; a refused write is counted.
func TestSenderServe(t *testing.T) {
	src, err := newAudioSource(codecPCMU, 500)
	if err != nil {
		t.Fatal(err)
	}
	var s sender
	var logs [senderSlots + 1]packetLog
	calls := make([]*txCall, len(logs))
	for i := range calls {
		calls[i] = &txCall{stream: newTxStream(src, uint32(i)*1000), w: &logs[i]}
		s.add(calls[i])
	}
	t0 := time.Unix(100, 0)
	// 10 rounds of 4 slot ticks: 10 frames per call.
	for k := range 10 * senderSlots {
		s.serve(k%senderSlots, t0.Add(time.Duration(k)*frameInterval/senderSlots))
	}
	for i, l := range logs {
		if len(l.pkts) != 10 {
			t.Fatalf("call %d sent %d packets in 200 ms, want 10", i, len(l.pkts))
		}
		for k, p := range l.pkts {
			if p.SequenceNumber != l.pkts[0].SequenceNumber+uint16(k) ||
				p.Timestamp != l.pkts[0].Timestamp+uint32(k*pcmuFrame) ||
				p.Marker != (k == 0) || p.PayloadType != ptPCMU {
				t.Fatalf("call %d packet %d: %+v", i, k, p.Header)
			}
			if !slices.Equal(p.Payload, src.frames[k]) {
				t.Fatalf("call %d packet %d carries the wrong frame", i, k)
			}
		}
		if got := calls[i].sent.Load(); got != 10 {
			t.Errorf("call %d counted %d sent", i, got)
		}
	}

	// The first call's slot is served 200 ms late: eleven frames are due,
	// three go at once, eight are skipped; the timestamps stay on the
	// clock.
	c := calls[0]
	last := logs[0].pkts[9]
	s.serve(0, t0.Add(400*time.Millisecond))
	got := logs[0].pkts[10:]
	if len(got) != 3 || c.skipped.Load() != 8 || c.behind.Load() != 1 {
		t.Fatalf("after a late tick: %d packets, %d skipped, %d behind; want 3, 8, 1", len(got), c.skipped.Load(), c.behind.Load())
	}
	if got[0].SequenceNumber != last.SequenceNumber+1 || got[0].Timestamp != last.Timestamp+9*pcmuFrame {
		t.Errorf("after skipping: seq %d ts %d, want %d %d", got[0].SequenceNumber, got[0].Timestamp,
			last.SequenceNumber+1, last.Timestamp+9*pcmuFrame)
	}

	s.remove(calls[1])
	logs[2].fail = true
	n1 := len(logs[1].pkts)
	for k := range 2 * senderSlots {
		s.serve(k%senderSlots, t0.Add(400*time.Millisecond+time.Duration(k)*frameInterval/senderSlots))
	}
	if len(logs[1].pkts) != n1 {
		t.Error("a removed call went on sending")
	}
	if calls[2].errors.Load() == 0 {
		t.Error("refused writes were not counted")
	}
}
