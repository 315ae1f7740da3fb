package transcode

import "strconv"

const (
	// maxPacketSlots is the longest input packet accepted, 120 ms at 8 kHz
	// (the longest Opus packet, RFC 6716 section 3.2.5).
	maxPacketSlots = 960
)

// frameQueue is the stage between the push side and the pull side of a
// transcoder: audio inputs append 8 kHz slots at its tail, and Next takes
// whole frames of the output ptime from its head through the frame
// output. It keeps the output timeline: the RTP timestamp (output clock)
// of every slot, which advances by the frame length and jumps forward
// when the stream restarts after a long gap. When Next is not called often
// enough the oldest frames are dropped (Stats.Overruns).
type frameQueue struct {
	buf      []int16 // buf[head:tail] is pending
	head     int
	tail     int
	frame    int    // output frame length in slots
	outRatio uint32 // output clock ticks per slot
	headTS   uint32 // output timestamp of buf[head]
	jumpAt   int    // index where the output timestamp jumps to jumpTS, or -1
	jumpTS   uint32
	refOut   uint32 // output timestamp of the first slot of the last packet
	next     frameOutput
	stats    *Stats
}

// newFrameQueue returns a queue of frames of frame slots for an output
// clock of outRatio ticks per slot, with room for gaps of maxGap slots.
func newFrameQueue(frame, maxGap int, outRatio uint32, stats *Stats) frameQueue {
	return frameQueue{
		buf:      make([]int16, maxPacketSlots+maxGap+3*frame+maxPacketSlots),
		frame:    frame,
		outRatio: outRatio,
		jumpAt:   -1,
		stats:    stats,
	}
}

// begin starts the output timeline: the first slot gets the output
// timestamp of 8 kHz timestamp ts.
func (q *frameQueue) begin(ts uint32) { q.headTS = ts * q.outRatio }

// restart starts the stream over: it finishes the partial frame with pad
// slots, so that no audio is lost and the queue holds whole frames only,
// and lets the timeline jump by skip slots from where the stream was
// expected (less the padding); with skip 0 it goes on.
func (q *frameQueue) restart(skip int, pad int16) {
	before := q.tsAt(q.tail)
	if part := (q.tail - q.head) % q.frame; part != 0 {
		q.fill(q.frame-part, pad)
	}
	after := q.tsAt(q.tail)
	next := after
	if s := uint32(skip) * q.outRatio; s > after-before {
		next = before + s
	}
	switch {
	case q.tail == q.head:
		q.headTS = next
	case q.jumpAt < 0:
		q.jumpAt, q.jumpTS = q.tail, next
	default:
		// A second restart before the first was drained: drop the backlog.
		q.stats.Overruns += (q.tail - q.head) / q.frame
		q.head, q.tail, q.jumpAt = 0, 0, -1
		q.headTS = next
	}
}

// tsAt returns the output timestamp of queue index i.
func (q *frameQueue) tsAt(i int) uint32 {
	if q.jumpAt >= 0 && i >= q.jumpAt {
		return q.jumpTS + uint32(i-q.jumpAt)*q.outRatio
	}
	return q.headTS + uint32(i-q.head)*q.outRatio
}

// room reserves n slots at the tail (dropping the oldest frames if the
// queue was not drained) and returns them for the caller to write and
// commit.
func (q *frameQueue) room(n int) []int16 {
	q.reserve(n)
	n = min(n, len(q.buf)-q.tail)
	return q.buf[q.tail : q.tail+n : q.tail+n]
}

// packet is room for the audio of an accepted packet: its first slot is
// the reference of mapTimestamp.
func (q *frameQueue) packet(n int) []int16 {
	s := q.room(n)
	q.refOut = q.tsAt(q.tail)
	return s
}

// commit appends the n slots written into room.
func (q *frameQueue) commit(n int) { q.tail += n }

// fill appends n slots of value v, as many as there is room for: the
// caller reserves first where it must not lose any.
func (q *frameQueue) fill(n int, v int16) {
	n = min(n, len(q.buf)-q.tail)
	s := q.buf[q.tail : q.tail+n]
	for i := range s {
		s[i] = v
	}
	q.tail += n
}

// pending returns the slots not yet taken, for conversion in place.
func (q *frameQueue) pending() []int16 { return q.buf[q.head:q.tail] }

// reserve makes room for n more slots at the tail: it compacts the queue
// and, if the caller has not drained it, drops its oldest whole frames.
func (q *frameQueue) reserve(n int) {
	if q.tail+n <= len(q.buf) {
		return
	}
	for q.tail-q.head+n > len(q.buf) && q.tail-q.head >= q.frame {
		q.advance()
		q.stats.Overruns++
	}
	if q.head > 0 {
		copy(q.buf, q.buf[q.head:q.tail])
		if q.jumpAt >= 0 {
			q.jumpAt -= q.head
		}
		q.tail -= q.head
		q.head = 0
	}
}

// advance moves the head past one output frame.
func (q *frameQueue) advance() {
	q.head += q.frame
	q.headTS += uint32(q.frame) * q.outRatio
	if q.jumpAt >= 0 && q.head >= q.jumpAt {
		q.headTS = q.jumpTS + uint32(q.head-q.jumpAt)*q.outRatio
		q.jumpAt = -1
	}
	if q.head == q.tail {
		q.head, q.tail = 0, 0
	}
}

// take encodes the oldest complete frame into dst through the frame
// output and returns its length and output timestamp, or ok false when no
// whole frame is pending. A frame the output fails on is dropped and
// counted in Stats.EncodeErrors.
func (q *frameQueue) take(dst []byte) (n int, ts uint32, ok bool) {
	for q.tail-q.head >= q.frame {
		ts = q.headTS
		n, err := q.next.encode(dst, q.buf[q.head:q.head+q.frame])
		q.advance()
		if err != nil {
			q.stats.EncodeErrors++
			continue
		}
		q.stats.Frames++
		return n, ts, true
	}
	return 0, 0, false
}

// maxPayload is the destination size take needs.
func (q *frameQueue) maxPayload() int { return q.next.maxPayload(q.frame) }

// mapSlots returns the output timestamp d slots after the first slot of
// the last accepted packet.
func (q *frameQueue) mapSlots(d int64) uint32 { return q.refOut + uint32(d)*q.outRatio }

// String describes the chain from the queue on, for example
// "PCMU encode, ptime 20ms": the frame output and the frame length.
func (q *frameQueue) String() string {
	return q.next.String() + ", ptime " + strconv.Itoa(q.frame*1000/pcmRate) + "ms"
}
