package transcode

// arrival classifies one incoming RTP packet against the stream so far.
type arrival uint8

const (
	// arrivalNext continues the stream, possibly after a concealable gap.
	arrivalNext arrival = iota
	// arrivalDuplicate repeats the last accepted sequence number.
	arrivalDuplicate
	// arrivalLate is older than the last accepted packet: it was already
	// concealed, so it is dropped.
	arrivalLate
	// arrivalRestart starts the stream over: the first packet, a gap too
	// long to conceal, a timestamp that jumped backwards, or a sequence
	// jump confirmed by a second packet.
	arrivalRestart
)

// maxMisorder is how far behind the last accepted sequence number a packet
// may be and still count as merely late; a packet further away is a
// candidate restart (RFC 3550 appendix A.1 uses the same bound).
const maxMisorder = 100

// sequenceTracker follows the sequence numbers and timestamps of one RTP
// stream (RFC 3550 section 5.1 and appendix A.1) to tell what arrived:
// the next packet, a gap before it, a duplicate, a late packet or a new
// stream. Timestamps are in the input RTP clock.
type sequenceTracker struct {
	started  bool
	lastSeq  uint16
	nextTS   uint32 // expected timestamp of the packet after lastSeq
	maxGap   uint32 // longest gap concealed, in input clock ticks
	probing  bool   // a far-off sequence number was seen
	probeSeq uint16 // the sequence number that confirms it
	// resync is set when the sender's codec changed (Downlink.SetInput):
	// the next packet may start a new numbering (many trunks open a new
	// RTP stream with the new codec), which then continues the output
	// timeline where it stands instead of restarting it.
	resync bool
}

// classify decides what the packet (seq, ts) is. For arrivalNext it returns
// the number of packets lost before it and the gap in input clock ticks
// between the expected and the actual timestamp (0 when none or negative).
// For arrivalRestart, jump is the signed timestamp distance from the
// expected timestamp when the stream continued in time, else 0.
//
// The first packet after a codec change that does not continue the stream
// within the maximum gap is taken as the next packet with no gap: the new
// stream's numbering replaces the old one without a restart.
func (t *sequenceTracker) classify(seq uint16, ts uint32) (a arrival, lost int, gap uint32, jump int64) {
	a, lost, gap, jump = t.classifyStream(seq, ts)
	if t.resync {
		t.resync = false
		if a != arrivalNext {
			t.probing = false
			return arrivalNext, 0, 0, 0
		}
	}
	return a, lost, gap, jump
}

// classifyStream is classify within one numbering.
func (t *sequenceTracker) classifyStream(seq uint16, ts uint32) (a arrival, lost int, gap uint32, jump int64) {
	if !t.started {
		return arrivalRestart, 0, 0, 0
	}
	d := int16(seq - t.lastSeq)
	switch {
	case d == 0:
		return arrivalDuplicate, 0, 0, 0
	case d < 0 && d >= -maxMisorder:
		return arrivalLate, 0, 0, 0
	case d < 0:
		// Far behind: a restarted sender, or a stray very old packet.
		// Accept the new numbering only when the next packet follows it.
		if t.probing && seq == t.probeSeq {
			t.probing = false
			return arrivalRestart, 0, 0, 0
		}
		t.probing = true
		t.probeSeq = seq + 1
		return arrivalLate, 0, 0, 0
	}
	t.probing = false
	delta := int32(ts - t.nextTS)
	switch {
	case delta > int32(t.maxGap):
		return arrivalRestart, 0, 0, int64(delta)
	case delta < -int32(t.maxGap):
		return arrivalRestart, 0, 0, 0
	case delta <= 0:
		return arrivalNext, int(d) - 1, 0, 0
	}
	return arrivalNext, int(d) - 1, uint32(delta), 0
}

// accept records packet (seq, ts) lasting dur input clock ticks as the last
// one of the stream.
func (t *sequenceTracker) accept(seq uint16, ts, dur uint32) {
	t.started = true
	t.lastSeq = seq
	t.nextTS = ts + dur
}
