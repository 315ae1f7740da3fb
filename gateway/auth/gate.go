package auth

import (
	"slices"
	"sync"
	"time"
)

// priority orders the password checks waiting for a bcrypt slot: lower
// goes first.
type priority int

const (
	// priorityKnownGood is a check from an address that logged in
	// successfully within the last day.
	priorityKnownGood priority = iota
	// priorityClean is a check from an address without recent failures.
	priorityClean
	// prioritySuspect is a check from an address that failed recently.
	prioritySuspect
)

// waiter is one check waiting for a slot; ready receives the slot's kind
// when it got one, or an ErrTryLater result when it was pushed out of the
// queue.
type waiter struct {
	prio  priority
	seq   uint64
	ready chan grant
}

// grant is the outcome of a wait: a slot (reserved says which pool) or an
// error.
type grant struct {
	reserved bool
	err      error
}

// gate bounds the bcrypt comparisons running at once and those waiting
// for a slot (queue). There are two pools of slots: the shared ones, and
// reserved ones that only checks from known-good addresses may take, so
// that such a check never waits behind a flood's comparisons. Waiting
// checks are served best priority first, then in arrival order. When the
// queue is full, a newcomer takes the place of the worst waiter if it has
// a better priority, else it is refused with ErrTryLater at once; a check
// that waited longer than maxWait gives up with ErrTryLater. So a flood of
// wrong passwords costs the flood its own refusals.
type gate struct {
	maxQueue int
	maxWait  time.Duration

	mu       sync.Mutex
	free     int // shared slots free
	reserved int // known-good slots free
	seq      uint64
	waiting  []*waiter
}

func newGate(slots, reserved, queue int, maxWait time.Duration) *gate {
	return &gate{free: max(slots, 1), reserved: max(reserved, 0), maxQueue: max(queue, 0), maxWait: maxWait}
}

// slot is a taken slot; release it exactly once.
type slot struct {
	g        *gate
	reserved bool
}

// release frees the slot: the best waiter that may use it, if any, takes
// it.
func (s slot) release() { s.g.release(s.reserved) }

// acquire takes a slot for a check of priority p, waiting its turn. It
// returns ErrTryLater when the queue has no room for it, when a better
// check pushed it out, or after maxWait.
func (g *gate) acquire(p priority) (slot, error) {
	g.mu.Lock()
	if len(g.waiting) == 0 && g.free > 0 {
		g.free--
		g.mu.Unlock()

		return slot{g: g}, nil
	}
	if p == priorityKnownGood && g.reserved > 0 {
		g.reserved--
		g.mu.Unlock()

		return slot{g: g, reserved: true}, nil
	}
	if len(g.waiting) >= g.maxQueue {
		worst := g.worst()
		if worst < 0 || g.waiting[worst].prio <= p {
			g.mu.Unlock()

			return slot{}, ErrTryLater
		}
		g.waiting[worst].ready <- grant{err: ErrTryLater}
		g.waiting = slices.Delete(g.waiting, worst, worst+1)
	}
	g.seq++
	w := &waiter{prio: p, seq: g.seq, ready: make(chan grant, 1)}
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()

	timer := time.NewTimer(g.maxWait)
	defer timer.Stop()
	var got grant
	select {
	case got = <-w.ready:
	case <-timer.C:
		g.mu.Lock()
		if i := slices.Index(g.waiting, w); i >= 0 {
			g.waiting = slices.Delete(g.waiting, i, i+1)
			g.mu.Unlock()

			return slot{}, ErrTryLater
		}
		g.mu.Unlock()
		// Handed a slot (or pushed out) just as the wait ran out.
		got = <-w.ready
	}
	if got.err != nil {
		return slot{}, got.err
	}

	return slot{g: g, reserved: got.reserved}, nil
}

// release frees a slot of the given pool: the best waiter that may use it
// takes it, else it goes back to its pool.
func (g *gate) release(reserved bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	best := -1
	for i, w := range g.waiting {
		if reserved && w.prio != priorityKnownGood {
			continue
		}
		if best < 0 || w.prio < g.waiting[best].prio || (w.prio == g.waiting[best].prio && w.seq < g.waiting[best].seq) {
			best = i
		}
	}
	if best < 0 {
		if reserved {
			g.reserved++
		} else {
			g.free++
		}

		return
	}
	w := g.waiting[best]
	g.waiting = slices.Delete(g.waiting, best, best+1)
	w.ready <- grant{reserved: reserved}
}

// worst is the index of the waiter to push out first: the worst priority,
// newest among equals; -1 when none waits. g.mu is held.
func (g *gate) worst() int {
	worst := -1
	for i, w := range g.waiting {
		if worst < 0 {
			worst = i

			continue
		}
		b := g.waiting[worst]
		if w.prio > b.prio || (w.prio == b.prio && w.seq > b.seq) {
			worst = i
		}
	}

	return worst
}

// queued returns how many checks wait for a slot.
func (g *gate) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()

	return len(g.waiting)
}
