package integration

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// RFC 4733 key presses as the fake peers send them: an event lasts
// dtmfEventPackets packets of 20 ms, then its final packet is sent three
// times with the E bit set (section 2.5.1.4).
const (
	dtmfEventPackets = 5
	dtmfEndPackets   = 3
)

// dtmfSender turns queued digits into RFC 4733 telephone-event packets, one
// per 20 ms tick, in place of the audio of that tick. It is owned by one
// send loop.
type dtmfSender struct {
	clock  int // RTP clock rate of the event payload type, Hz
	queue  chan rune
	digit  uint8
	start  uint32 // RTP timestamp of the event in progress
	packet int    // packets of the event sent so far; 0 when idle
	buf    [transcode.EventPayloadSize]byte
}

// newDTMFSender returns a sender of events at clock Hz.
func newDTMFSender(clock int) *dtmfSender {
	return &dtmfSender{clock: clock, queue: make(chan rune, 64)}
}

// enqueue schedules digits; it never blocks the caller for long.
func (d *dtmfSender) enqueue(digits string) {
	for _, r := range digits {
		d.queue <- r
	}
}

// next fills p with the tick's event packet and reports true, or reports
// false when no event is due and the tick carries audio. now is the RTP
// timestamp the audio of this tick would have had.
func (d *dtmfSender) next(p *rtp.Packet, pt uint8, now uint32) bool {
	if d.packet == 0 {
		select {
		case r := <-d.queue:
			code, ok := transcode.EventForDigit(r)
			if !ok {
				return false
			}
			d.digit, d.start = code, now
		default:
			return false
		}
	}
	d.packet++
	step := d.clock / 50 // ticks per 20 ms
	ev := transcode.Event{Code: d.digit, Volume: 10}
	if d.packet > dtmfEventPackets {
		ev.End = true
		ev.Duration = uint16(dtmfEventPackets * step)
	} else {
		ev.Duration = uint16(d.packet * step)
	}
	n, _ := ev.MarshalTo(d.buf[:])
	p.PayloadType = pt
	p.Marker = d.packet == 1
	p.Timestamp = d.start
	p.Payload = d.buf[:n]
	if d.packet >= dtmfEventPackets+dtmfEndPackets {
		d.packet = 0
	}

	return true
}

// digitLog records digits one party received, in order.
type digitLog struct {
	mu      sync.Mutex
	digits  strings.Builder
	lastEnd uint32
	ended   bool
}

// addEvent parses one telephone-event payload of the packet stamped ts and
// records its digit the first time an end packet of that event arrives.
func (l *digitLog) addEvent(ts uint32, payload []byte) {
	var ev transcode.Event
	if ev.Unmarshal(payload) != nil || !ev.End {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended && l.lastEnd == ts {
		return
	}
	l.ended, l.lastEnd = true, ts
	if r, ok := transcode.DigitForEvent(ev.Code); ok {
		l.digits.WriteRune(r)
	}
}

// addDigit records a digit reported by signaling.
func (l *digitLog) addDigit(s string) {
	l.mu.Lock()
	l.digits.WriteString(s)
	l.mu.Unlock()
}

// String returns the digits received so far.
func (l *digitLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.digits.String()
}

// waitDigits waits until log holds want, failing the test after timeout.
func waitDigits(t *testing.T, who string, log *digitLog, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got := log.String()
		if got == want {
			return
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			t.Fatalf("%s received digits %q, want %q", who, got, want)
		}
		<-tick.C
	}
}
