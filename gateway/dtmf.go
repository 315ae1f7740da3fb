package gateway

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/webtrunk/webtrunk/transcode"
)

// Timing of the DTMF digits the gateway generates for a dtmf message, in
// frames of the trunk's ptime (20 ms by default): each tone lasts
// dtmfToneFrames (100 ms), its end is reported dtmfEndPackets times (RFC
// 4733 section 2.5.1.4) and the next digit starts after dtmfGapFrames
// (100 ms) of audio, within the ITU-T Q.24 limits receivers accept.
const (
	dtmfToneFrames = 5
	dtmfEndPackets = 3
	dtmfGapFrames  = 5
	// dtmfVolume is the power level of generated tones, in -dBm0 (RFC 4733
	// section 2.5.2.2).
	dtmfVolume = 10
	// dtmfQueueSize is how many digits may wait to be sent on one call.
	dtmfQueueSize = 64
)

// errDTMFQueueFull is returned by dtmfSender.enqueue when too many digits wait.
var errDTMFQueueFull = errors.New("gateway: too many dtmf digits waiting")

// errDTMFDigit is returned by dtmfSender.enqueue for a character that is not a DTMF digit.
var errDTMFDigit = errors.New("gateway: not a dtmf digit")

// dtmfSender turns digits asked for over signaling into RFC 4733
// telephone-events on the trunk leg. The events are clocked by the uplink's
// audio frames: for each frame the uplink would send, step says whether an
// event packet replaces it, so events share the audio stream's sequence
// numbers, SSRC and timeline (RFC 4733 section 2.5.1.2). Browsers send
// audio packets without pause while their track is enabled, which keeps
// the clock running.
//
// enqueue may be called from any goroutine; step belongs to the uplink
// goroutine and takes the lock only when digits are waiting.
type dtmfSender struct {
	pending atomic.Bool
	mu      sync.Mutex
	queue   []uint8

	// State of the uplink goroutine.
	active   bool
	code     uint8
	start    uint32
	duration uint16
	frames   int
	ends     int
	gap      int
}

// newDTMFSender returns an idle sender.
func newDTMFSender() *dtmfSender {
	return &dtmfSender{queue: make([]uint8, 0, dtmfQueueSize)}
}

// enqueue adds digits ("0"-"9", "*", "#", "A"-"D") to be sent after those
// already waiting. It returns errDTMFDigit or errDTMFQueueFull and queues
// nothing when a digit is invalid or the queue would overflow.
func (d *dtmfSender) enqueue(digits string) error {
	codes := make([]uint8, 0, len(digits))
	for _, r := range digits {
		c, ok := transcode.EventForDigit(r)
		if !ok {
			return errDTMFDigit
		}
		codes = append(codes, c)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue)+len(codes) > dtmfQueueSize {
		return errDTMFQueueFull
	}
	d.queue = append(d.queue, codes...)
	d.pending.Store(true)

	return nil
}

// step is called for each audio frame of samples 8 kHz samples the uplink
// is about to send with RTP timestamp ts. When an event is due it fills ev
// and returns the event's start timestamp, whether the packet starts the
// event (RTP marker, RFC 4733 section 2.5.1.1) and true; the frame is then
// not sent. Otherwise it returns false and the audio frame goes out.
func (d *dtmfSender) step(ts uint32, samples uint16, ev *transcode.Event) (start uint32, marker, ok bool) {
	if !d.active {
		if d.gap > 0 {
			d.gap--

			return 0, false, false
		}
		if !d.pending.Load() || !d.pop() {
			return 0, false, false
		}
		d.active, d.start, d.duration, d.frames, d.ends = true, ts, 0, 0, 0
	}
	*ev = transcode.Event{Code: d.code, Volume: dtmfVolume}
	if d.frames < dtmfToneFrames {
		d.frames++
		d.duration += samples
		ev.Duration = d.duration

		return d.start, d.frames == 1, true
	}
	ev.End = true
	ev.Duration = d.duration
	d.ends++
	if d.ends == dtmfEndPackets {
		d.active = false
		d.gap = dtmfGapFrames
	}

	return d.start, false, true
}

// pop takes the next digit into d.code; false when none waits.
func (d *dtmfSender) pop() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		d.pending.Store(false)

		return false
	}
	d.code = d.queue[0]
	copy(d.queue, d.queue[1:])
	d.queue = d.queue[:len(d.queue)-1]
	if len(d.queue) == 0 {
		d.pending.Store(false)
	}

	return true
}
