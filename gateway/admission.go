package gateway

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrOverCapacity is wrapped in the error of a dial refused because the
// gateway already carries calls.max_concurrent calls (protocol code
// over_capacity). Nothing reaches a trunk.
var ErrOverCapacity = errors.New("gateway: at call capacity")

// capacityRetryAfter is the Retry-After (RFC 3261 section 20.33) of the 503
// Service Unavailable (RFC 3261 section 21.5.4) that an inbound INVITE gets
// while the gateway is at calls.max_concurrent: long enough for a few calls
// to end, short enough that a trunk without another route soon tries again.
const capacityRetryAfter = 5 * time.Second

// admission is the gateway-wide count of calls in progress, outbound and
// inbound together, held against calls.max_concurrent. A call takes a slot
// before it takes any resource (PeerConnection, RTP port, INVITE) and gives
// it back exactly once when it ends, whichever way it ends. It is per call,
// never per packet, and lock-free: one compare-and-swap to take a slot, one
// atomic add to give it back.
type admission struct {
	limit  atomic.Int64 // 0: unlimited
	active atomic.Int64
}

// newAdmission returns the count for a limit of max calls (0 or less:
// unlimited).
func newAdmission(limit int) *admission {
	a := &admission{}
	a.setLimit(limit)

	return a
}

// setLimit changes the limit (a reload); calls in progress beyond a lower
// limit continue, new ones wait until the count is below it.
func (a *admission) setLimit(limit int) { a.limit.Store(int64(max(limit, 0))) }

// acquire takes a slot, or returns nil when limit calls are in progress.
func (a *admission) acquire() *callSlot {
	for {
		n := a.active.Load()
		if limit := a.limit.Load(); limit > 0 && n >= limit {
			return nil
		}
		if a.active.CompareAndSwap(n, n+1) {
			return &callSlot{a: a}
		}
	}
}

// full reports whether the limit is reached, so that a new call would be
// refused.
func (a *admission) full() bool {
	limit := a.limit.Load()

	return limit > 0 && a.active.Load() >= limit
}

// inUse returns how many slots are taken.
func (a *admission) inUse() int64 { return a.active.Load() }

// callSlot is one call's place in the admission count. It moves with the
// call (from a ringing inbound call to the session that answers it) and is
// released by whoever ends the call.
type callSlot struct {
	a        *admission
	released atomic.Bool
}

// release gives the slot back; calls after the first, and calls on a nil
// slot, do nothing.
func (s *callSlot) release() {
	if s != nil && s.released.CompareAndSwap(false, true) {
		s.a.active.Add(-1)
	}
}
