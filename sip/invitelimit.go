package sip

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedSources bounds the source addresses inviteLimiter tracks; when it is reached the
// buckets that have refilled (which behave as new ones) are forgotten.
const maxLimitedSources = 4096

// inviteLimiter is a token bucket per source address for new INVITEs (Config.InviteRate and
// InviteBurst). It is consulted once per new INVITE, never per packet.
type inviteLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter
}

// newInviteLimiter returns a limiter of r INVITEs per second with bucket size burst; nil (no
// limit) for a negative r.
func newInviteLimiter(r float64, burst int) *inviteLimiter {
	if r < 0 {
		return nil
	}
	return &inviteLimiter{
		limit:   rate.Limit(r),
		burst:   max(burst, 1),
		buckets: map[netip.Addr]*rate.Limiter{},
	}
}

// allow takes a token of src's bucket at now; false when it is empty, with the time until the
// next token.
func (l *inviteLimiter) allow(src netip.Addr, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= maxLimitedSources {
			l.forgetRefilled(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[src] = b
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration(float64(time.Second) / float64(l.limit))
	return false, wait
}

// forgetRefilled drops the buckets that are full again at now; the caller holds l.mu. When
// every bucket is still in use, one is dropped anyway so the map stays bounded.
func (l *inviteLimiter) forgetRefilled(now time.Time) {
	for src, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, src)
		}
	}
	if len(l.buckets) >= maxLimitedSources {
		for src := range l.buckets {
			delete(l.buckets, src)
			break
		}
	}
}
