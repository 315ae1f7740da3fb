package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// senderSlots spreads the calls over the 20 ms frame interval: the shared
// ticker fires every frameInterval/senderSlots and serves one slot of calls
// per tick, so that the gateway sees packets arrive evenly rather than all
// calls' packets in one burst.
const senderSlots = 4

// rtpWriter sends one RTP packet; a *webrtc.TrackLocalStaticRTP.
type rtpWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// txCall is one call's sending side as the sender sees it.
type txCall struct {
	stream  *txStream
	w       rtpWriter
	sent    atomic.Uint64
	skipped atomic.Uint64
	errors  atomic.Uint64
	behind  atomic.Uint64
}

// sender paces every call's packets from one goroutine and one ticker:
// cheaper than a ticker per call, and a late tick shows as a catch-up burst
// (or skipped frames) that the pacer accounts for.
type sender struct {
	mu    sync.Mutex
	slots [senderSlots][]*txCall
	next  int
	ticks atomic.Uint64
	late  atomic.Uint64 // ticks that had to serve the slots of dropped ticks too
}

// add starts sending c from its stream's start time.
func (s *sender) add(c *txCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slots[s.next] = append(s.slots[s.next], c)
	s.next = (s.next + 1) % senderSlots
}

// remove stops sending c.
func (s *sender) remove(c *txCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, slot := range s.slots {
		for j, x := range slot {
			if x == c {
				s.slots[i] = append(slot[:j], slot[j+1:]...)

				return
			}
		}
	}
}

// run sends until ctx ends. The slot a tick serves follows from the time
// since the start, not from counting ticks: a Go ticker drops ticks that
// its reader was too late for, and every slot whose tick was dropped is
// served at the next one.
func (s *sender) run(ctx context.Context) {
	period := frameInterval / senderSlots
	t := time.NewTicker(period)
	defer t.Stop()
	base := time.Now()
	var served int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		s.ticks.Add(1)
		first, last := slotsDue(served, int64(now.Sub(base)/period))
		if last-first >= 1 {
			s.late.Add(1)
		}
		for k := first; k <= last; k++ {
			s.serve(int(k%senderSlots), now)
		}
		served = max(served, last)
	}
}

// slotsDue returns the range of tick indexes to serve at tick cur when
// tick served was the last one served: every tick since, but at most one
// full round of slots.
func slotsDue(served, cur int64) (first, last int64) {
	if cur <= served {
		return 1, 0 // nothing
	}

	return max(served+1, cur-senderSlots+1), cur
}

// serve sends what is due at now for the calls of one slot.
func (s *sender) serve(slot int, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.slots[slot] {
		if c.stream.pace.start.IsZero() {
			// Frames fall due half an interval before each of the slot's
			// ticks, so that a tick's jitter never splits two frames.
			c.stream.pace.start = now.Add(-frameInterval / 2)
		}
		send, skip := c.stream.pace.due(now)
		if skip > 0 {
			c.stream.skip(skip)
			c.skipped.Add(uint64(skip))
		}
		if send > 1 {
			c.behind.Add(1)
		}
		for range send {
			if err := c.w.WriteRTP(c.stream.next()); err != nil {
				c.errors.Add(1)
			} else {
				c.sent.Add(1)
			}
			c.stream.advance()
		}
	}
}
