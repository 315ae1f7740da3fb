package transcode

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Timing of the digits a DTMFGenerator sends, in audio frames of the
// stream that clocks it (20 ms at the default ptime): each tone lasts
// DTMFToneFrames (100 ms), its end is reported DTMFEndPackets times (RFC
// 4733 section 2.5.1.4) and the next digit starts after DTMFGapFrames
// (100 ms) of audio, within the ITU-T Q.24 limits receivers accept.
const (
	DTMFToneFrames = 5
	DTMFEndPackets = 3
	DTMFGapFrames  = 5
	// DTMFVolume is the power level of generated tones, in -dBm0 (RFC
	// 4733 section 2.5.2.2).
	DTMFVolume = 10
	// DTMFQueueSize is how many digits may wait to be sent.
	DTMFQueueSize = 64
)

// Errors of DTMFGenerator.Enqueue.
var (
	// ErrDTMFDigit is a character that is not a DTMF digit.
	ErrDTMFDigit = errors.New("transcode: not a dtmf digit")
	// ErrDTMFQueueFull is more digits than DTMFQueueSize waiting.
	ErrDTMFQueueFull = errors.New("transcode: too many dtmf digits waiting")
)

// DTMFGenerator turns digits into RFC 4733 telephone-events clocked by
// the frames of an audio stream: for each frame the stream would send,
// Step says whether an event packet replaces it, so the events share the
// stream's sequence numbers, SSRC and timeline (RFC 4733 section 2.5.1.2).
// A browser sends audio without pause while its track is enabled, which
// keeps the clock running.
//
// Enqueue may be called from any goroutine; Step belongs to the goroutine
// of the stream and takes the lock only when digits are waiting. Step
// neither allocates nor, while no digit waits, locks.
type DTMFGenerator struct {
	pending atomic.Bool
	mu      sync.Mutex
	queue   []queuedEvent

	// State of the stream's goroutine.
	active   bool
	code     uint8
	volume   uint8
	start    uint32
	duration uint16
	target   uint16 // duration of the tone, 0 for DTMFToneFrames frames
	frames   int
	ends     int
	gap      int
}

// queuedEvent is one event waiting to be sent: its code, volume and
// duration on the stream's clock (0 for the default of DTMFToneFrames
// frames).
type queuedEvent struct {
	code, volume uint8
	duration     uint16
}

// NewDTMFGenerator returns an idle generator.
func NewDTMFGenerator() *DTMFGenerator {
	return &DTMFGenerator{queue: make([]queuedEvent, 0, DTMFQueueSize)}
}

// Enqueue adds digits ("0"-"9", "*", "#", "A"-"D") to be sent after those
// already waiting. It returns ErrDTMFDigit or ErrDTMFQueueFull, and queues
// nothing, when a digit is invalid or the queue would overflow.
func (g *DTMFGenerator) Enqueue(digits string) error {
	codes := make([]queuedEvent, 0, len(digits))
	for _, r := range digits {
		c, ok := EventForDigit(r)
		if !ok {
			return ErrDTMFDigit
		}
		codes = append(codes, queuedEvent{code: c, volume: DTMFVolume})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue)+len(codes) > DTMFQueueSize {
		return ErrDTMFQueueFull
	}
	g.queue = append(g.queue, codes...)
	g.pending.Store(true)

	return nil
}

// EnqueueEvent adds one event to be sent after those already waiting,
// with the code, volume (-dBm0) and duration (in samples of the stream's
// 8 kHz clock) of ev; its End bit is ignored. The event is sent as a start
// packet, updates every frame until the duration is reached, and
// DTMFEndPackets end packets carrying that duration (RFC 4733 section
// 2.5.1): this regenerates a well-formed event from one a peer reported
// only by its end. A duration under one frame is sent as one frame. It
// returns ErrDTMFQueueFull, and queues nothing, when the queue is full. It
// does not allocate.
func (g *DTMFGenerator) EnqueueEvent(ev Event) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) >= DTMFQueueSize {
		return ErrDTMFQueueFull
	}
	g.queue = append(g.queue, queuedEvent{code: ev.Code, volume: ev.Volume, duration: max(ev.Duration, 1)})
	g.pending.Store(true)

	return nil
}

// Step is called for each audio frame of samples samples (at the stream's
// 8 kHz clock) the stream is about to send with RTP timestamp ts. When an
// event is due it fills ev and returns the event's start timestamp,
// whether the packet starts the event (the RTP marker, RFC 4733 section
// 2.5.1.1) and true; the frame is then not sent. Otherwise it returns
// false and the audio frame goes out.
func (g *DTMFGenerator) Step(ts uint32, samples uint16, ev *Event) (start uint32, marker, ok bool) {
	if !g.active {
		if g.gap > 0 {
			g.gap--

			return 0, false, false
		}
		if !g.pending.Load() || !g.pop() {
			return 0, false, false
		}
		g.active, g.start, g.duration, g.frames, g.ends = true, ts, 0, 0, 0
		if g.target == 0 {
			g.target = DTMFToneFrames * samples
		}
	}
	*ev = Event{Code: g.code, Volume: g.volume}
	if g.duration < g.target {
		g.frames++
		g.duration = uint16(min(uint32(g.duration)+uint32(samples), uint32(g.target)))
		ev.Duration = g.duration

		return g.start, g.frames == 1, true
	}
	ev.End = true
	ev.Duration = g.duration
	g.ends++
	if g.ends == DTMFEndPackets {
		g.active = false
		g.gap = DTMFGapFrames
	}

	return g.start, false, true
}

// pop takes the next digit into g.code; false when none waits.
func (g *DTMFGenerator) pop() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.pending.Store(false)

		return false
	}
	g.code, g.volume, g.target = g.queue[0].code, g.queue[0].volume, g.queue[0].duration
	copy(g.queue, g.queue[1:])
	g.queue = g.queue[:len(g.queue)-1]
	if len(g.queue) == 0 {
		g.pending.Store(false)
	}

	return true
}
