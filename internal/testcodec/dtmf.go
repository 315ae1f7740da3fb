package testcodec

import (
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// Key presses as the tests' peers send them (RFC 4733): an event lasts
// EventPackets packets of 20 ms, then its final packet is sent
// EndPackets times with the E bit set (section 2.5.1.4).
const (
	EventPackets = 5
	EndPackets   = 3
)

// DTMFSender turns queued digits into RFC 4733 telephone-event packets,
// one per 20 ms tick, in place of the audio of that tick, as a browser's
// RTCDTMFSender or a phone does. Enqueue may be called from any goroutine;
// Next belongs to the one send loop.
type DTMFSender struct {
	clock  int // RTP clock rate of the event payload type, Hz
	queue  chan rune
	digit  uint8
	start  uint32 // RTP timestamp of the event in progress
	packet int    // packets of the event sent so far; 0 when idle
	buf    [transcode.EventPayloadSize]byte
}

// NewDTMFSender returns a sender of events on an RTP clock of clockHz
// (8000 or 48000).
func NewDTMFSender(clockHz int) *DTMFSender {
	return &DTMFSender{clock: clockHz, queue: make(chan rune, 64)}
}

// Enqueue schedules digits (0-9, *, #, A-D; others are skipped when
// their turn comes). It blocks only when 64 digits are already waiting.
func (d *DTMFSender) Enqueue(digits string) {
	for _, r := range digits {
		d.queue <- r
	}
}

// Next fills p's payload type, marker, timestamp and payload with the
// tick's event packet and reports true, or reports false when no event is
// due and the tick carries audio. now is the RTP timestamp the audio of
// this tick would have had. The payload stays valid until the next call.
func (d *DTMFSender) Next(p *rtp.Packet, pt uint8, now uint32) bool {
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
	step := d.clock / 50                                                                                   // clock ticks per 20 ms
	ev := transcode.Event{Code: d.digit, Volume: 10, Duration: uint16(min(d.packet, EventPackets) * step)} //nolint:gosec // at most 5*960
	ev.End = d.packet > EventPackets
	n, _ := ev.MarshalTo(d.buf[:])
	p.PayloadType, p.Marker, p.Timestamp, p.Payload = pt, d.packet == 1, d.start, d.buf[:n]
	if d.packet >= EventPackets+EndPackets {
		d.packet = 0
	}

	return true
}

// FrameInterval is the packet time of every stream the tests send: 20 ms.
const FrameInterval = 20 * time.Millisecond

// EveryFrame calls send every FrameInterval until stop is closed or send
// returns false. A tick the machine was too busy for is skipped, as a
// sender's clock skips it.
func EveryFrame(stop <-chan struct{}, send func() bool) {
	tick := time.NewTicker(FrameInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if !send() {
			return
		}
	}
}
