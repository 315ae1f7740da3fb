package bridge

import (
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// digitTap reports the browser's RFC 4733 digits one per key press
// instead of relaying them (Config.OnBrowserDigit). It belongs to the
// uplink goroutine and neither allocates nor locks.
type digitTap struct {
	formats []telephony.Codec // the browser's telephone-event formats
	report  func(digit rune, duration time.Duration)
	ev      transcode.Event
	lastPT  uint8
	lastTS  uint32
	seen    bool
}

func newDigitTap(formats []telephony.Codec, report func(rune, time.Duration)) *digitTap {
	return &digitTap{formats: formats, report: report}
}

// handle reads a packet of the browser that is not audio: a
// telephone-event of one of its formats is reported at its first end
// packet (the end is sent three times with the event's start timestamp,
// RFC 4733 section 2.5.1.4), with its duration converted from the
// format's clock. It returns false for a packet of another payload type,
// a malformed event, or an event that is not a DTMF digit.
func (t *digitTap) handle(p *rtp.Packet) bool {
	clock := 0
	for _, f := range t.formats {
		if f.PayloadType == p.PayloadType {
			clock = f.ClockRate
		}
	}
	if clock == 0 || t.ev.Unmarshal(p.Payload) != nil {
		return false
	}
	digit, ok := transcode.DigitForEvent(t.ev.Code)
	if !ok {
		return false
	}
	if !t.ev.End || t.seen && p.Timestamp == t.lastTS && p.PayloadType == t.lastPT {
		return true
	}
	t.seen, t.lastTS, t.lastPT = true, p.Timestamp, p.PayloadType
	t.report(digit, time.Duration(t.ev.Duration)*time.Second/time.Duration(clock))

	return true
}
