package transcode

import (
	"strconv"
	"time"

	"github.com/webtrunk/webtrunk/rtpstream"
)

const (
	// jitterSlots is the number of packets a jitter buffer can hold: 16,
	// 320 ms of 20 ms packets, more than MaxJitterDepth of any packet size
	// browsers send (10 ms and up).
	jitterSlots = 16
	// jitterFactor is how many times the measured interarrival jitter (RFC
	// 3550 appendix A.8, a mean deviation) the buffer waits for a missing
	// packet before concealing it.
	jitterFactor = 3
)

// Bounds of WithJitterBuffer.
const (
	// MaxJitterDepth is the longest wait for a missing packet
	// WithJitterBuffer accepts.
	MaxJitterDepth = 200 * time.Millisecond
	// DefaultJitterMin is the jitter buffer's shortest wait for a missing
	// packet.
	DefaultJitterMin = 20 * time.Millisecond
	// DefaultJitterMax is the jitter buffer's longest wait for a missing
	// packet.
	DefaultJitterMax = 80 * time.Millisecond
)

// jitterSlot is one packet held by the jitter buffer, with a copy of its
// payload.
type jitterSlot struct {
	used    bool
	seq     uint16
	ts      uint32
	arrival time.Duration
	n       int
	payload [rtpstream.MaxPacketSize]byte
}

// jitterBuffer is an adaptive reorder buffer, the packetStage before the
// sequencer when WithJitterBuffer is on. It hands packets on in sequence
// number order: a packet that follows the last one handed on passes at
// once, without a copy, with the held packets that follow it; a packet
// further ahead is copied and held while the buffer waits for the missing
// ones. The wait for a missing packet lasts from the arrival of the first
// packet held after it until depth has passed (judged at each arrival) or
// the buffer is full; then the buffer gives up on the missing packets and
// hands on what it holds, so that the sequencer conceals the gap (with
// Opus FEC from the next packet where there is some, else PLC). A packet
// that arrives after the buffer gave up on it, a duplicate, or one far
// from the stream goes to the sequencer unchanged, which classifies it as
// before.
//
// depth adapts to the interarrival jitter of the stream (RFC 3550 appendix
// A.8, measured by an rtpstream.Receiver from the arrival times PushAt
// gives): jitterFactor times the jitter, kept within [minDepth,
// maxDepth]. In-order packets cross the buffer with no added delay; only
// the packets behind a missing one wait, at most depth.
type jitterBuffer struct {
	next     packetStage
	rx       rtpstream.Receiver
	clock    int64 // input RTP clock, Hz
	minDepth time.Duration
	maxDepth time.Duration
	depth    time.Duration
	now      time.Duration // arrival of the packet being pushed
	started  bool
	expected uint16 // the sequence number to hand on next
	held     int
	slots    [jitterSlots]jitterSlot
	stats    *Stats
}

// newJitterBuffer returns a jitter buffer of an input stream with an RTP
// clock of clock Hz that waits between minDepth and maxDepth.
func newJitterBuffer(clock int, minDepth, maxDepth time.Duration, next packetStage, stats *Stats) *jitterBuffer {
	j := &jitterBuffer{next: next, clock: int64(clock), minDepth: minDepth, maxDepth: maxDepth, depth: minDepth, stats: stats}
	j.rx.SetClockRate(clock)
	stats.JitterDepth = minDepth
	return j
}

// pushAt is push of a packet that arrived at time at (any monotonic clock
// of the stream).
func (j *jitterBuffer) pushAt(seq uint16, ts uint32, at time.Duration, payload []byte) error {
	j.now = at
	return j.push(seq, ts, payload)
}

// push takes one packet that arrived at j.now.
func (j *jitterBuffer) push(seq uint16, ts uint32, payload []byte) error {
	j.adapt(seq, ts)
	if !j.started {
		j.started = true
		j.expected = seq
	}
	d := int16(seq - j.expected) //nolint:gosec // sequence distance wraps by design
	switch {
	case d == 0:
		if j.held > 0 {
			j.stats.Reordered++
		}
		err := j.hand(seq, payload, ts)
		return joinFirst(err, j.drain())
	case d < 0 && d > -rtpstream.MaxMisorder:
		// Given up on already: the sequencer drops it as late.
		return j.next.push(seq, ts, payload)
	case d < 0 || int(d) >= jitterSlots || len(payload) > rtpstream.MaxPacketSize:
		// Far from the stream (a restart, a jump), or too big to hold:
		// hand on everything in order and start again after it.
		err := j.flush()
		j.expected = seq + 1
		return joinFirst(err, j.next.push(seq, ts, payload))
	}
	s := &j.slots[seq%jitterSlots]
	if s.used {
		if s.seq == seq {
			j.stats.Duplicates++
			return nil
		}
		// Cannot happen while d < jitterSlots, but never lose the
		// newer packet.
		err := j.flush()
		return joinFirst(err, j.next.push(seq, ts, payload))
	}
	s.used, s.seq, s.ts, s.arrival, s.n = true, seq, ts, j.now, copy(s.payload[:], payload)
	j.held++
	return j.expire()
}

// adapt updates the jitter estimate with one arrival and sets the depth.
func (j *jitterBuffer) adapt(seq uint16, ts uint32) {
	j.rx.Update(seq, ts, j.now)
	jitter := time.Duration(int64(j.rx.Stats().Jitter) * int64(time.Second) / j.clock)
	j.depth = min(max(jitterFactor*jitter, j.minDepth), j.maxDepth)
	j.stats.JitterDepth = j.depth
}

// hand passes one packet to the sequencer and expects the one after it.
func (j *jitterBuffer) hand(seq uint16, payload []byte, ts uint32) error {
	j.expected = seq + 1
	return j.next.push(seq, ts, payload)
}

// drain hands on the held packets that follow the last one handed on.
func (j *jitterBuffer) drain() error {
	var first error
	for j.held > 0 {
		s := &j.slots[j.expected%jitterSlots]
		if !s.used || s.seq != j.expected {
			break
		}
		s.used = false
		j.held--
		first = joinFirst(first, j.hand(s.seq, s.payload[:s.n], s.ts))
	}
	return first
}

// expire gives up on the missing packets when the oldest held one has
// waited depth or the buffer is full, and hands on what follows.
func (j *jitterBuffer) expire() error { return j.release(false) }

// flush hands on every held packet in sequence order.
func (j *jitterBuffer) flush() error { return j.release(true) }

// release gives up on the packets missing before the oldest held one and
// hands it on with those that follow it in sequence, again while packets
// are held: until none is, with all, else until the oldest has waited less
// than depth and the buffer is not full.
func (j *jitterBuffer) release(all bool) error {
	var first error
	for j.held > 0 {
		oldest, ok := j.oldest()
		if !ok {
			return first
		}
		if !all && j.held < jitterSlots-1 && j.now-j.slots[oldest%jitterSlots].arrival < j.depth {
			return first
		}
		j.stats.Skipped += int(oldest - j.expected)
		j.expected = oldest
		first = joinFirst(first, j.drain())
	}
	return first
}

// oldest returns the lowest sequence number held, at most jitterSlots
// after expected. Should it find none, it forgets what it counted as held
// and reports false.
func (j *jitterBuffer) oldest() (uint16, bool) {
	for i := range uint16(jitterSlots) {
		seq := j.expected + i
		if s := &j.slots[seq%jitterSlots]; s.used && s.seq == seq {
			return seq, true
		}
	}
	for i := range j.slots {
		j.slots[i].used = false
	}
	j.held = 0
	return j.expected, false
}

// String describes the chain from the buffer on, the buffer last so that
// the chain still reads from its codec: "opus/48000 decode@8k (FEC, PLC)
// -> PCMU encode, ptime 20ms, jitter buffer 20-80ms".
func (j *jitterBuffer) String() string {
	return j.next.String() + ", jitter buffer " + strconv.FormatInt(j.minDepth.Milliseconds(), 10) + "-" +
		strconv.FormatInt(j.maxDepth.Milliseconds(), 10) + "ms"
}

// joinFirst returns the first non-nil of a and b: one error per push is
// enough, the others are counted in Stats.
func joinFirst(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
