package testcodec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// ErrMalformedEvent is a telephone-event stream that breaks RFC 4733
// section 2.5.1, returned by WellFormedEvents.
var ErrMalformedEvent = errors.New("testcodec: malformed telephone-event")

// ErrEventIncomplete is returned by WellFormedEvents, asked for complete
// events, when the last event has not sent all its end packets yet: wait
// for more packets.
var ErrEventIncomplete = errors.New("testcodec: telephone-event not ended yet")

// ReceivedEvent is one RFC 4733 event as a receiver saw it: its digit, the
// RTP timestamp of its start, its final duration (in ticks of the event's
// clock) and how many packets carried it.
type ReceivedEvent struct {
	Digit    rune
	Start    uint32
	Duration uint16
	Packets  int
}

// WellFormedEvents checks the telephone-events of payload type pt among
// packets (in order of arrival, other payload types ignored) against RFC
// 4733 section 2.5.1: each event starts with a marked packet that is not
// an end packet, goes on with unmarked updates of the same code and start
// timestamp whose durations never decrease, and ends with exactly
// EndPackets end packets of one final duration. It returns the events, or
// an error wrapping ErrMalformedEvent naming the first packet that breaks a
// rule, or ErrEventIncomplete for a last event that has not ended yet when
// complete is true.
func WellFormedEvents(packets []rtp.Packet, pt uint8, complete bool) ([]ReceivedEvent, error) {
	var events []ReceivedEvent
	var cur *ReceivedEvent
	ends := 0
	for i, p := range packets {
		if p.PayloadType != pt {
			continue
		}
		var ev transcode.Event
		if err := ev.Unmarshal(p.Payload); err != nil {
			return events, fmt.Errorf("packet %d (seq %d): %w", i, p.SequenceNumber, err)
		}
		digit, ok := transcode.DigitForEvent(ev.Code)
		if !ok {
			digit = '?'
		}
		desc := fmt.Sprintf("packet %d (seq %d, ts %d, marker %v, %q end %v duration %d)", i, p.SequenceNumber, p.Timestamp, p.Marker, digit, ev.End, ev.Duration)
		if cur == nil || p.Timestamp != cur.Start {
			if cur != nil && ends != EndPackets {
				return events, fmt.Errorf("%w: %s: event %q at %d ended with %d end packets, want %d", ErrMalformedEvent, desc, cur.Digit, cur.Start, ends, EndPackets)
			}
			if !p.Marker || ev.End {
				return events, fmt.Errorf("%w: %s: an event must start with a marked packet that is not an end packet (RFC 4733 section 2.5.1.1)", ErrMalformedEvent, desc)
			}
			events = append(events, ReceivedEvent{Digit: digit, Start: p.Timestamp, Duration: ev.Duration, Packets: 1})
			cur, ends = &events[len(events)-1], 0

			continue
		}
		cur.Packets++
		switch {
		case p.Marker:
			return events, fmt.Errorf("%w: %s: marker on a packet after the event's first", ErrMalformedEvent, desc)
		case digit != cur.Digit:
			return events, fmt.Errorf("%w: %s: code changed within the event %q", ErrMalformedEvent, desc, cur.Digit)
		case ev.Duration < cur.Duration:
			return events, fmt.Errorf("%w: %s: duration went down from %d", ErrMalformedEvent, desc, cur.Duration)
		case ends > 0 && (!ev.End || ev.Duration != cur.Duration):
			return events, fmt.Errorf("%w: %s: after an end packet only its retransmissions may follow (RFC 4733 section 2.5.1.4)", ErrMalformedEvent, desc)
		case ends >= EndPackets:
			return events, fmt.Errorf("%w: %s: more than %d end packets", ErrMalformedEvent, desc, EndPackets)
		}
		cur.Duration = ev.Duration
		if ev.End {
			ends++
		}
	}
	if complete && cur != nil && ends != EndPackets {
		return events, fmt.Errorf("%w: the last event %q at %d has %d end packets, want %d", ErrEventIncomplete, cur.Digit, cur.Start, ends, EndPackets)
	}

	return events, nil
}

// WaitWellFormedEvents waits until the telephone-events of payload type
// pt that media received have all ended and returns them; it fails tb
// when they break RFC 4733 section 2.5.1. wait is a Media's WaitPackets.
func WaitWellFormedEvents(tb testing.TB, wait func(testing.TB, string, func([]rtp.Packet) bool) []rtp.Packet, pt uint8) []ReceivedEvent {
	tb.Helper()
	pkts := wait(tb, "the end packets of the last telephone-event", func(p []rtp.Packet) bool {
		_, err := WellFormedEvents(p, pt, true)

		return !errors.Is(err, ErrEventIncomplete)
	})
	events, err := WellFormedEvents(pkts, pt, true)
	if err != nil {
		tb.Fatalf("received malformed telephone-events: %v", err)
	}

	return events
}
