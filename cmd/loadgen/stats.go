package main

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of samples by the
// nearest-rank method: the smallest sample such that at least p % of the
// samples are less than or equal to it. It returns 0 for no samples and
// does not modify samples.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))

	return sorted[rank-1]
}

// lateGap is the inter-arrival time beyond which a received packet counts
// as late: two 20 ms frames.
const lateGap = 40 * time.Millisecond

// rxCounters are the running totals of one received RTP stream, kept with
// atomics: the receiving goroutine writes them, the measurement reads
// snapshots at the start and the end of the steady state.
type rxCounters struct {
	received atomic.Uint64
	expected atomic.Uint64
	late     atomic.Uint64
	maxGapNs atomic.Int64 // largest inter-arrival time since the last reset, in ns
}

// rxSnapshot is a copy of rxCounters at one instant.
type rxSnapshot struct {
	Received, Expected, Late uint64
}

// snapshot copies the counters.
func (c *rxCounters) snapshot() rxSnapshot {
	return rxSnapshot{Received: c.received.Load(), Expected: c.expected.Load(), Late: c.late.Load()}
}

// sub returns the counts between an earlier snapshot a and s.
func (s rxSnapshot) sub(a rxSnapshot) rxSnapshot {
	return rxSnapshot{Received: s.Received - a.Received, Expected: s.Expected - a.Expected, Late: s.Late - a.Late}
}

// Lost is how many packets of the stretch never arrived: expected minus
// received (RFC 3550 appendix A.3), never below zero (duplicates).
func (s rxSnapshot) Lost() uint64 {
	if s.Received >= s.Expected {
		return 0
	}

	return s.Expected - s.Received
}

// rxTracker follows the sequence numbers and arrival times of one RTP
// stream (RFC 3550 appendix A.1 and A.3): expected is the extended highest
// sequence number minus the first plus one, so that a gap counts as loss
// and a packet arriving late out of order makes it good again; late counts
// packets that arrived more than lateGap after the one before them. It
// belongs to the receiving goroutine and publishes through its counters.
type rxTracker struct {
	c       *rxCounters
	started bool
	base    uint32 // extended sequence number of the first packet
	highest uint32 // extended highest sequence number seen
	last    time.Time
}

// maxMisorder is how far behind the highest sequence number a packet may be
// and still count as reordered rather than as a restart of the stream (RFC
// 3550 appendix A.1's MAX_MISORDER).
const maxMisorder = 100

// record accounts one packet with sequence number seq that arrived at now.
func (t *rxTracker) record(seq uint16, now time.Time) {
	if !t.started {
		t.started = true
		t.base, t.highest, t.last = uint32(seq), uint32(seq), now
		t.c.received.Add(1)
		t.c.expected.Add(1)

		return
	}
	if gap := now.Sub(t.last); gap > lateGap {
		t.c.late.Add(1)
		if int64(gap) > t.c.maxGapNs.Load() {
			t.c.maxGapNs.Store(int64(gap))
		}
	} else if int64(gap) > t.c.maxGapNs.Load() {
		t.c.maxGapNs.Store(int64(gap))
	}
	t.last = now
	t.c.received.Add(1)
	delta := seq - uint16(t.highest)
	switch {
	case delta == 0:
		// duplicate of the highest: received but not expected again
	case delta < 1<<15:
		ext := t.highest + uint32(delta)
		t.c.expected.Add(uint64(ext - t.highest))
		t.highest = ext
	case -delta > maxMisorder:
		// far behind: the sender restarted; count from here
		t.base, t.highest = uint32(seq), uint32(seq)
		t.c.expected.Add(1)
	default:
		// reordered: it was counted as expected when the gap opened
	}
}

// pacer keeps a sender on the wall clock: frame k is due at start + k ·
// interval. At each tick it says how many frames to send now (catching up
// after a late tick, up to maxBurst) and how many to skip (when the sender
// fell further behind than that; the stream's timestamps still advance).
type pacer struct {
	start    time.Time
	interval time.Duration
	maxBurst int
	next     int64 // index of the next frame to send or skip
	skipped  uint64
	behind   uint64 // ticks at which more than one frame was due
}

// due returns how many frames to send and to skip at now, and advances
// the pacer past them. Skipped frames come before the sent ones.
func (p *pacer) due(now time.Time) (send, skip int) {
	if now.Before(p.start) {
		return 0, 0
	}
	n := int64(now.Sub(p.start)/p.interval) + 1 - p.next
	if n <= 0 {
		return 0, 0
	}
	if n > 1 {
		p.behind++
	}
	if n > int64(p.maxBurst) {
		skip = int(n) - p.maxBurst
		p.skipped += uint64(skip)
		n = int64(p.maxBurst)
	}
	p.next += int64(skip) + n

	return int(n), skip
}
