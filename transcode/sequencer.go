package transcode

import (
	"strconv"

	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
)

// sequencer is the first stage of a transcoder: it follows the sequence
// numbers of the input stream with an rtpstream.Receiver (RFC 3550
// appendix A.1) and its timestamps, and tells its audio input what each
// packet is (RFC 3550 section 5.1):
//
//   - the first packet begins the output timeline;
//   - a duplicate of the last accepted packet is dropped;
//   - a late packet (at most rtpstream.MaxMisorder behind the last one
//     accepted), already concealed, is dropped;
//   - a sequence number too far from the stream (rtpstream.Jump) is
//     dropped unless the next packet follows it, which makes it a
//     restarted sender (rtpstream.Restart): the stream starts over;
//   - a packet that follows the last one is decoded, after its audio
//     input conceals the time between them: the lost packets, or a gap of
//     the timestamps alone;
//   - a packet whose timestamp lies further than the maximum gap from the
//     expected one starts the stream over, skipping the gap's time when
//     it lies ahead.
//
// After a codec change of the trunk (resync), the next packet may open a
// new RTP stream: when it does not simply continue the old one, it is
// decoded as the packet that follows, with no gap and no restart, and the
// Receiver starts counting afresh at it.
type sequencer struct {
	in     telephony.Codec
	ratio  uint32 // input clock ticks per slot
	maxGap int32  // longest gap concealed, in input clock ticks
	rx     rtpstream.Receiver
	nextTS uint32 // expected timestamp of the packet after the last one
	refIn  uint32 // timestamp of the last accepted packet
	resync bool
	next   audioInput
	stats  *Stats
}

// newSequencer returns the sequencer of an input stream in codec in that
// conceals gaps up to maxGap slots.
func newSequencer(in telephony.Codec, maxGap int, stats *Stats) sequencer {
	ratio := uint32(in.ClockRate / pcmRate)
	s := sequencer{ratio: ratio, maxGap: int32(uint32(maxGap) * ratio), stats: stats}
	s.rx.SetClockRate(in.ClockRate)
	return s
}

// connect makes the sequencer read codec in and feed next. It does not
// allocate.
func (s *sequencer) connect(in telephony.Codec, next audioInput) {
	s.in, s.next = in, next
}

// started reports whether a packet was accepted.
func (s *sequencer) started() bool { return s.rx.Stats().Received > 0 }

// push classifies one packet and hands it to the audio input.
func (s *sequencer) push(seq uint16, ts uint32, payload []byte) error {
	slots, err := s.next.duration(payload)
	if err != nil {
		s.stats.Malformed++
		return err
	}
	a, lost := s.rx.UpdateSequence(seq)
	delta := int32(ts - s.nextTS)
	resync := s.resync
	s.resync = false
	switch {
	case a == rtpstream.First:
		s.next.begin(ts / s.ratio)
	case resync && (a != rtpstream.InOrder || delta > s.maxGap || delta < -s.maxGap):
		// A new stream after a codec change: its audio follows the
		// queued audio directly.
		s.rx.Reset()
		s.rx.UpdateSequence(seq)
	case a == rtpstream.Duplicate:
		s.stats.Duplicates++
		return nil
	case a == rtpstream.Late, a == rtpstream.Jump:
		s.stats.Late++
		return nil
	case a == rtpstream.Restart, delta < -s.maxGap:
		s.restart(0)
	case delta > s.maxGap:
		s.restart(int(uint32(delta) / s.ratio))
	case delta > 0:
		s.next.conceal(int(uint32(delta)/s.ratio), int(lost), payload)
	}
	s.refIn = ts
	s.nextTS = ts + uint32(slots)*s.ratio
	return s.next.decode(payload, slots)
}

// restart starts the stream over, skip slots later than expected.
func (s *sequencer) restart(skip int) {
	s.stats.Restarts++
	s.next.restart(skip)
}

// since returns the time in slots from the last accepted packet to input
// timestamp ts, negative when ts is earlier.
func (s *sequencer) since(ts uint32) int64 {
	return int64(int32(ts-s.refIn)) / int64(s.ratio)
}

// String describes the chain from the input stream on, for example
// "opus/48000 decode@8k (FEC, PLC) -> PCMU encode, ptime 20ms".
func (s *sequencer) String() string {
	return s.in.Name + "/" + strconv.Itoa(s.in.ClockRate) + " " + s.next.String()
}
