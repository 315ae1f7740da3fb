package rtpstream

import "time"

// RTP header constants (RFC 3550 section 5.1).
const (
	// HeaderSize is the size in bytes of the fixed RTP header, without
	// CSRC list or header extension: what the media path writes.
	HeaderSize = 12
	// Version is the RTP version of every packet (the top two bits of the
	// first byte).
	Version = 2
	// MaxPacketSize is the size in bytes of every packet buffer of the
	// media path: one Ethernet MTU, larger than any audio packet.
	MaxPacketSize = 1500
)

// Constants of the sequence number tracking of RFC 3550 appendix A.1.
const (
	// MaxDropout is the largest forward jump of sequence numbers (packets)
	// still taken as loss rather than as a restarted source.
	MaxDropout = 3000
	// MaxMisorder is the largest backward distance of sequence numbers
	// (packets) still taken as a late or duplicate packet rather than as a
	// restarted source.
	MaxMisorder = 100
	// seqMod is the sequence number space, 2^16.
	seqMod = 1 << 16
)

// Arrival says how one packet relates to the stream received so far.
type Arrival uint8

const (
	// First is the first packet of the stream: counting starts at it.
	First Arrival = iota
	// InOrder follows the highest sequence number so far, directly or
	// after a gap of at most MaxDropout packets (the gap is counted lost
	// until late packets fill it).
	InOrder
	// Duplicate repeats the highest sequence number so far.
	Duplicate
	// Late is older than the highest sequence number so far, by at most
	// MaxMisorder: a reordered packet (or a duplicate of an older one).
	Late
	// Jump is a sequence number too far from the stream to be loss or
	// reordering; it is not counted. When the next packet follows it, the
	// source is taken to have restarted (Restart).
	Jump
	// Restart is the packet after a Jump that follows it: counting starts
	// afresh at this packet (RFC 3550 appendix A.1 leaves the Jump's
	// packet out).
	Restart
)

// String returns the arrival's name, "in-order".
func (a Arrival) String() string {
	switch a {
	case First:
		return "first"
	case InOrder:
		return "in-order"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	case Jump:
		return "jump"
	case Restart:
		return "restart"
	default:
		return "unknown"
	}
}

// Counted reports whether a packet of this arrival counts as received (RFC
// 3550 appendix A.1 counts every packet but those of a Jump).
func (a Arrival) Counted() bool { return a != Jump }

// Receiver is the reception state of one RTP stream (one SSRC). The zero
// value is ready for a stream with an 8000 Hz clock; SetClockRate sets
// another before the first packet. A Receiver is not safe for concurrent
// use; Update neither allocates nor locks.
type Receiver struct {
	clockRate int64 // RTP clock, Hz; 0 reads as 8000

	started       bool
	maxSeq        uint16 // highest sequence number seen
	cycles        uint32 // sequence number wraps, times 2^16
	baseSeq       uint32 // first sequence number of the count
	badSeq        uint32 // the sequence number that confirms a Jump
	received      uint64 // packets counted
	expectedPrior uint64 // expected packets at the last Interval
	receivedPrior uint64 // received packets at the last Interval
	transit       int32  // relative transit time of the last packet, RTP units
	jitter        int64  // interarrival jitter, RTP units times 16 (A.8)
	restarts      uint64 // Restart arrivals
}

// Jitter estimator scaling of RFC 3550 appendix A.8: kept times 16.
const (
	jitterShift       = 4
	jitterRoundOffset = 1 << (jitterShift - 1)
)

// SetClockRate sets the stream's RTP clock in Hz (8000 for G.711, 48000
// for Opus), which jitter is measured in. Call it before the first Update.
func (r *Receiver) SetClockRate(hz int) { r.clockRate = int64(hz) }

func (r *Receiver) rate() int64 {
	if r.clockRate <= 0 {
		return 8000
	}
	return r.clockRate
}

// Update accounts for one packet with sequence number seq and RTP
// timestamp ts that arrived at time arrival (on any monotonic clock the
// caller keeps for the stream, for example the time since the call
// began), and says how it relates to the stream. For InOrder, gap is the
// number of sequence numbers skipped before it (0 when it follows
// directly). Jitter is updated from every counted packet but a duplicate.
func (r *Receiver) Update(seq uint16, ts uint32, arrival time.Duration) (a Arrival, gap uint16) {
	sec, frac := int64(arrival/time.Second), int64(arrival%time.Second)
	clock := r.rate()
	at := uint32(sec*clock + frac*clock/int64(time.Second)) //nolint:gosec // RTP time wraps at 2^32 by design
	transit := int32(at - ts)                               //nolint:gosec // difference of wrapping clocks
	a, gap = r.UpdateSequence(seq)
	switch a {
	case Jump, Duplicate:
		return a, gap
	case First, Restart:
		r.transit = transit
		return a, gap
	}
	delta := int64(transit - r.transit)
	r.transit = transit
	if delta < 0 {
		delta = -delta
	}
	r.jitter += delta - (r.jitter+jitterRoundOffset)>>jitterShift
	return a, gap
}

// UpdateSequence is Update by sequence number alone, for a receiver that
// keeps no arrival times (a transcoder classifying the packets it is
// given): it says how the packet relates to the stream and counts it
// exactly as Update does, but leaves the jitter estimate untouched. A
// stream should be fed through one of the two only.
func (r *Receiver) UpdateSequence(seq uint16) (a Arrival, gap uint16) {
	if !r.started {
		r.started = true
		r.restart(seq)
		return First, 0
	}
	return r.updateSeq(seq)
}

// Reset forgets the stream, keeping only the clock rate: the next packet
// is First again and every count starts afresh. It is for a stream that
// was replaced by another whose numbering is unrelated, for example a new
// SSRC (RFC 3550 section 8.2) opened by a sender that changed codec.
func (r *Receiver) Reset() { *r = Receiver{clockRate: r.clockRate} }

// restart starts counting afresh at seq (init_seq of RFC 3550 A.1).
func (r *Receiver) restart(seq uint16) {
	r.baseSeq = uint32(seq)
	r.maxSeq = seq
	r.badSeq = seqMod + 1 // never equal to a 16-bit sequence number
	r.cycles = 0
	r.received = 1
	r.expectedPrior = 0
	r.receivedPrior = 0
}

// updateSeq is update_seq of RFC 3550 A.1 without the probation of a new
// source (the first packet counts at once).
func (r *Receiver) updateSeq(seq uint16) (Arrival, uint16) {
	delta := seq - r.maxSeq
	switch {
	case delta == 0:
		r.received++
		return Duplicate, 0
	case delta < MaxDropout:
		if seq < r.maxSeq {
			r.cycles += seqMod
		}
		r.maxSeq = seq
		r.received++
		return InOrder, delta - 1
	case delta <= seqMod-MaxMisorder:
		// A very large jump: the source restarted if the next packet
		// follows on, otherwise this one is ignored.
		if uint32(seq) != r.badSeq {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return Jump, 0
		}
		r.restart(seq)
		r.restarts++
		return Restart, 0
	default:
		r.received++
		return Late, 0
	}
}

// Stats is a snapshot of a Receiver's counts (RFC 3550 section 6.4.1 and
// appendix A.3). Counts start again at a Restart.
type Stats struct {
	// Received is the number of packets counted, duplicates included.
	Received uint64
	// Expected is the number of packets the sequence numbers span, from
	// the first to the highest.
	Expected uint64
	// Lost is Expected minus Received: the cumulative number of packets
	// lost, negative when duplicates outnumber losses.
	Lost int64
	// ExtendedHighest is the highest sequence number received with the
	// count of wraps in the upper 16 bits.
	ExtendedHighest uint32
	// Jitter is the interarrival jitter in RTP clock units.
	Jitter uint32
	// Restarts counts the times the source restarted its numbering.
	Restarts uint64
}

// Stats returns the counts so far; the zero Stats before the first packet.
func (r *Receiver) Stats() Stats {
	if !r.started {
		return Stats{}
	}
	ext := r.cycles + uint32(r.maxSeq)
	expected := uint64(ext-r.baseSeq) + 1
	return Stats{
		Received:        r.received,
		Expected:        expected,
		Lost:            int64(expected) - int64(r.received), //nolint:gosec // counts stay far below 2^63
		ExtendedHighest: ext,
		Jitter:          uint32(r.jitter >> jitterShift), //nolint:gosec // jitter is non-negative
		Restarts:        r.restarts,
	}
}

// JitterDuration returns the interarrival jitter as a duration.
func (r *Receiver) JitterDuration() time.Duration {
	return time.Duration(int64(r.Stats().Jitter) * int64(time.Second) / r.rate())
}

// Interval returns the fraction of packets lost since the previous call
// (or the first packet), in 1/256 units as the fraction lost field of an
// RTCP report block (RFC 3550 appendix A.3), and starts a new interval. It
// is 0 when no packet was lost or duplicates made up for the losses.
func (r *Receiver) Interval() uint8 {
	st := r.Stats()
	expectedInterval := st.Expected - r.expectedPrior
	receivedInterval := st.Received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = st.Expected, st.Received
	lostInterval := int64(expectedInterval) - int64(receivedInterval) //nolint:gosec // counts stay far below 2^63
	if expectedInterval == 0 || lostInterval <= 0 {
		return 0
	}
	return uint8(lostInterval << 8 / int64(expectedInterval)) //nolint:gosec // lostInterval <= expectedInterval, so below 256
}
