package auth

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the limiter New builds.
const (
	// DefaultFailureRate is how fast an address regains failed attempts:
	// one every six seconds, ten a minute.
	DefaultFailureRate = rate.Limit(1.0 / 6)
	// DefaultFailureBurst is how many failed attempts an address may make
	// in a row before it must wait.
	DefaultFailureBurst = 10
	// DefaultLimiterSize is how many addresses the limiter tracks
	// individually.
	DefaultLimiterSize = 1 << 16
)

// sweepInterval is the least time between two sweeps of a full table.
const sweepInterval = time.Second

// Limiter rate-limits failed authentication attempts per client address
// with one token bucket each (golang.org/x/time/rate). Only failures spend
// tokens, so many users behind one NAT address log in freely while a
// password guesser is slowed to the refill rate. IPv6 clients are tracked by
// their /64 prefix, which one host can rotate through at will.
//
// The table of addresses is bounded: when it is full, addresses whose
// bucket has refilled are forgotten, and if none has, addresses not in the
// table share one bucket, so a flood from many addresses cannot exhaust
// memory. A Limiter is safe for concurrent use.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxSize int

	mu        sync.Mutex
	buckets   map[netip.Prefix]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// NewLimiter returns a Limiter allowing burst failed attempts per address,
// regained at limit per second, tracking at most size addresses (at least
// one).
func NewLimiter(limit rate.Limit, burst, size int) *Limiter {
	return &Limiter{
		limit:    limit,
		burst:    burst,
		maxSize:  max(size, 1),
		buckets:  make(map[netip.Prefix]*rate.Limiter),
		overflow: rate.NewLimiter(limit, burst),
	}
}

// Allowed reports whether addr may make an attempt at time now: whether
// it has a failed attempt left. It spends nothing.
func (l *Limiter) Allowed(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr, now, false)

	return b == nil || b.TokensAt(now) >= 1
}

// Failed records a failed attempt of addr at time now.
func (l *Limiter) Failed(addr netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(addr, now, true).AllowN(now, 1)
}

// Len returns how many addresses the limiter tracks individually.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()

	return len(l.buckets)
}

// bucket returns addr's bucket, creating it when create is set; nil when
// addr has none and create is not set. l.mu is held.
func (l *Limiter) bucket(addr netip.Addr, now time.Time, create bool) *rate.Limiter {
	key := keyOf(addr)
	if b, ok := l.buckets[key]; ok {
		return b
	}
	if len(l.buckets) >= l.maxSize {
		l.sweep(now)
		if len(l.buckets) >= l.maxSize {
			return l.overflow
		}
	}
	if !create {
		return nil
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b

	return b
}

// sweep forgets the addresses whose bucket is full again, at most once per
// sweepInterval. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < sweepInterval {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// keyOf is the address a bucket belongs to: the IPv4 address (IPv4-mapped
// IPv6 addresses included), or the /64 of an IPv6 address.
func keyOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.WithZone("").Prefix(bits)
	if err != nil { // the zero Addr: all such callers share one bucket
		return netip.Prefix{}
	}

	return p
}
