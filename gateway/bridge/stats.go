package bridge

import (
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/rtpstream"
)

// Stats are the counters of one direction of a bridged call.
type Stats struct {
	// Received counts RTP packets read from the source leg.
	Received uint64
	// Sent counts RTP packets written to the destination leg.
	Sent uint64
	// Lost is the cumulative number of packets lost from the source's
	// sequence numbers (RFC 3550 appendix A.3, as in the RTCP receiver
	// reports), summed over restarts of the source's numbering; never
	// negative.
	Lost uint64
	// Dropped counts packets that were not understood (malformed, unknown
	// payload type) or could not be written.
	Dropped uint64
	// Jitter is the source's interarrival jitter (RFC 3550 appendix A.8).
	Jitter time.Duration
	// Transcode is the time spent in the transcoder.
	Transcode time.Duration
	// LastPacket is when the last packet arrived, since the bridge's
	// epoch; 0 before the first.
	LastPacket time.Duration
	// Late counts audio packets the transcoder dropped because they came
	// after their time had been concealed (transcode.Stats.Late), and
	// Reordered those the jitter buffer received out of order and still
	// decoded in order (transcode.Stats.Reordered; uplink only).
	Late, Reordered uint64
}

// Plus returns the counters of a direction carried by two bridges one
// after the other, s then later (a call whose party changed bridges):
// counts and times summed, the later bridge's jitter once it received
// anything, and the latest LastPacket.
func (s Stats) Plus(later Stats) Stats {
	sum := Stats{
		Received: s.Received + later.Received, Sent: s.Sent + later.Sent, Lost: s.Lost + later.Lost,
		Dropped: s.Dropped + later.Dropped, Jitter: s.Jitter, Transcode: s.Transcode + later.Transcode,
		LastPacket: max(s.LastPacket, later.LastPacket), Late: s.Late + later.Late, Reordered: s.Reordered + later.Reordered,
	}
	if later.Received > 0 {
		sum.Jitter = later.Jitter
	}

	return sum
}

// counters are one direction's Stats, written by its goroutine with
// atomics (never a lock) and read by anyone; and that goroutine's RFC 3550
// accounting of its source.
type counters struct {
	received, sent, dropped, lost atomic.Uint64
	transcode, lastPacket         atomic.Int64
	late, reordered               atomic.Uint64
	// For RTCP reports (rtcp.go): the source's SSRC and extended highest
	// sequence number; the octets sent and the last RTP timestamp sent.
	ssrc, highest, lastTS atomic.Uint32
	octets                atomic.Uint64
	jitter                atomic.Uint32 // RTP clock units

	// Owned by the direction's goroutine.
	rx        rtpstream.Receiver
	clockRate int64
	lostDone  int64  // lost before the last restart of the source
	lostNow   int64  // lost since it
	source    uint32 // SSRC of the stream rx accounts for
	started   bool   // a packet was accounted for
}

// newCounters returns the counters of a source whose RTP clock is
// clockRate Hz.
func newCounters(clockRate int) *counters {
	c := &counters{clockRate: int64(clockRate)}
	c.rx.SetClockRate(clockRate)

	return c
}

// arrived accounts for one RTP packet of source ssrc with sequence
// number seq and timestamp ts read at time at since the epoch. A new SSRC
// is a new stream whose numbering and timestamps are unrelated to the old
// one's (RFC 3550 section 8.2, a trunk that changed codec by re-INVITE):
// its sequence and jitter accounting start afresh, the losses counted so
// far kept, and arrived reports it.
func (c *counters) arrived(ssrc uint32, seq uint16, ts uint32, at time.Duration) (newSource bool) {
	c.received.Add(1)
	c.lastPacket.Store(int64(at))
	if c.started && ssrc != c.source {
		c.lostDone += c.lostNow
		c.lostNow = 0
		c.rx.Reset()
		newSource = true
	}
	c.started, c.source = true, ssrc
	if a, _ := c.rx.Update(seq, ts, at); a == rtpstream.Restart {
		c.lostDone += c.lostNow
	}
	st := c.rx.Stats()
	c.lostNow = st.Lost
	c.lost.Store(uint64(max(c.lostDone+c.lostNow, 0))) //nolint:gosec // not negative
	c.jitter.Store(st.Jitter)
	c.highest.Store(st.ExtendedHighest)

	return newSource
}

// transcoded publishes the transcoder's counts of late and reordered
// packets.
func (c *counters) transcoded(late, reordered int) {
	c.late.Store(uint64(max(late, 0)))           //nolint:gosec // not negative
	c.reordered.Store(uint64(max(reordered, 0))) //nolint:gosec // not negative
}

// stats reads the counters.
func (c *counters) stats() Stats {
	return Stats{
		Received:   c.received.Load(),
		Sent:       c.sent.Load(),
		Lost:       c.lost.Load(),
		Dropped:    c.dropped.Load(),
		Jitter:     time.Duration(int64(c.jitter.Load()) * int64(time.Second) / c.clockRate),
		Transcode:  time.Duration(c.transcode.Load()),
		LastPacket: time.Duration(c.lastPacket.Load()),
		Late:       c.late.Load(),
		Reordered:  c.reordered.Load(),
	}
}

// Uplink returns the counters of the browser-to-trunk direction.
func (b *Bridge) Uplink() Stats { return b.up.c.stats() }

// Downlink returns the counters of the trunk-to-browser direction.
func (b *Bridge) Downlink() Stats { return b.down.c.stats() }
