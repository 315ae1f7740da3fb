package testcodec

import (
	"time"

	"github.com/pion/rtp"
)

// LongestStep is the longest stretch of media time, by RTP timestamp,
// between two consecutive packets of payload type pt among packets (in
// order of arrival), at clockHz: 20 ms for an unbroken stream of 20 ms
// packets, more where the stream lost or skipped audio. Unlike the gaps
// between arrivals, it does not grow when a busy machine delays packets.
// Steps backwards (reordering) are ignored. n is how many packets of pt
// there were.
func LongestStep(packets []rtp.Packet, pt uint8, clockHz int) (longest time.Duration, n int) {
	var last uint32
	for i := range packets {
		p := &packets[i]
		if p.PayloadType != pt {
			continue
		}
		n++
		if n > 1 {
			if step := int32(p.Timestamp - last); step > 0 { //nolint:gosec // RTP timestamps wrap (RFC 3550 section 5.1)
				longest = max(longest, time.Duration(step)*time.Second/time.Duration(clockHz))
			}
		}
		last = p.Timestamp
	}

	return longest, n
}
