package auth

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the limiters New builds.
const (
	// DefaultFailureRate is how fast one (address, user) pair regains
	// failed attempts: one every six seconds, ten a minute.
	DefaultFailureRate = rate.Limit(1.0 / 6)
	// DefaultFailureBurst is how many failed attempts one (address, user)
	// pair may make in a row before it must wait.
	DefaultFailureBurst = 10
	// DefaultAddressFailureRate is how fast one address regains failed
	// attempts over all users: one a second. It bounds credential
	// stuffing (many users tried from one address) without locking out
	// the other users behind a shared address as early as the per-pair
	// limit would.
	DefaultAddressFailureRate = rate.Limit(1)
	// DefaultAddressFailureBurst is how many failed attempts one address
	// may make in a row over all users.
	DefaultAddressFailureBurst = 60
	// DefaultLimiterSize is how many keys (addresses, or address and user
	// pairs) a limiter tracks individually.
	DefaultLimiterSize = 1 << 16
)

// sweepInterval is the least time between two sweeps of a full table.
const sweepInterval = time.Second

// Limiter rate-limits failed attempts per client address with one token
// bucket each (golang.org/x/time/rate). Only failures spend tokens, so many
// users behind one NAT address log in freely while a password guesser is
// slowed to the refill rate. IPv6 clients are tracked by their /64 prefix,
// which one host can rotate through at will.
//
// The table of addresses is bounded: when it is full, addresses whose
// bucket has refilled are forgotten, and if none has, addresses not in the
// table share one bucket, so a flood from many addresses cannot exhaust
// memory. A Limiter is safe for concurrent use.
type Limiter struct{ t table[netip.Prefix] }

// NewLimiter returns a Limiter allowing burst failed attempts per address,
// regained at limit per second, tracking at most size addresses (at least
// one).
func NewLimiter(limit rate.Limit, burst, size int) *Limiter {
	return &Limiter{t: newTable[netip.Prefix](limit, burst, size)}
}

// Allowed reports whether addr may make an attempt at time now: whether
// it has a failed attempt left. It spends nothing.
func (l *Limiter) Allowed(addr netip.Addr, now time.Time) bool {
	return l.t.allowed(keyOf(addr), now)
}

// Failed records a failed attempt of addr at time now.
func (l *Limiter) Failed(addr netip.Addr, now time.Time) { l.t.failed(keyOf(addr), now) }

// Reserve spends one attempt of addr at time now before the attempt is
// checked, so that parallel attempts cannot all pass a check made before
// any of them failed. It returns false, spending nothing, when addr has no
// attempt left. Call Refund on the returned reservation when the attempt
// succeeds; a failed attempt keeps it spent.
func (l *Limiter) Reserve(addr netip.Addr, now time.Time) (Reservation, bool) {
	return l.t.reserve(keyOf(addr), now)
}

// Full reports whether addr has every attempt left (no failure it has not
// regained since), at time now.
func (l *Limiter) Full(addr netip.Addr, now time.Time) bool { return l.t.full(keyOf(addr), now) }

// Len returns how many addresses the limiter tracks individually.
func (l *Limiter) Len() int { return l.t.len() }

// Reservation is one attempt spent ahead of its check; the zero value
// refunds nothing.
type Reservation struct {
	r   *rate.Reservation
	now time.Time
}

// Refund gives the attempt back: it succeeded.
func (r Reservation) Refund() {
	if r.r != nil {
		r.r.CancelAt(r.now)
	}
}

// table is a bounded map of token buckets, one per key, that only failures
// spend.
type table[K comparable] struct {
	limit   rate.Limit
	burst   int
	maxSize int

	mu        sync.Mutex
	buckets   map[K]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newTable[K comparable](limit rate.Limit, burst, size int) table[K] {
	return table[K]{
		limit:    limit,
		burst:    burst,
		maxSize:  max(size, 1),
		buckets:  make(map[K]*rate.Limiter),
		overflow: rate.NewLimiter(limit, burst),
	}
}

func (t *table[K]) allowed(key K, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(key, now, false)

	return b == nil || b.TokensAt(now) >= 1
}

func (t *table[K]) full(key K, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(key, now, false)

	return b == nil || b.TokensAt(now) >= float64(t.burst)
}

func (t *table[K]) failed(key K, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bucket(key, now, true).AllowN(now, 1)
}

func (t *table[K]) reserve(key K, now time.Time) (Reservation, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(key, now, true)
	if b.TokensAt(now) < 1 {
		return Reservation{}, false
	}

	return Reservation{r: b.ReserveN(now, 1), now: now}, true
}

func (t *table[K]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()

	return len(t.buckets)
}

// bucket returns key's bucket, creating it when create is set; nil when key
// has none and create is not set. t.mu is held.
func (t *table[K]) bucket(key K, now time.Time, create bool) *rate.Limiter {
	if b, ok := t.buckets[key]; ok {
		return b
	}
	if len(t.buckets) >= t.maxSize {
		t.sweep(now)
		if len(t.buckets) >= t.maxSize {
			return t.overflow
		}
	}
	if !create {
		return nil
	}
	b := rate.NewLimiter(t.limit, t.burst)
	t.buckets[key] = b

	return b
}

// sweep forgets the keys whose bucket is full again, at most once per
// sweepInterval. t.mu is held.
func (t *table[K]) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < sweepInterval {
		return
	}
	t.lastSweep = now
	for k, b := range t.buckets {
		if b.TokensAt(now) >= float64(t.burst) {
			delete(t.buckets, k)
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
