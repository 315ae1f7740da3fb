package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Defaults of the per-user back-off.
const (
	// DefaultUserFreeFailures is how many failed passwords in a row a user
	// may get, from any addresses, before each further attempt must wait.
	DefaultUserFreeFailures = 5
	// DefaultUserMaxDelay caps the wait between attempts for one user.
	DefaultUserMaxDelay = 5 * time.Minute
	// knownGoodTTL is how long an address that logged in successfully
	// keeps priority for password checks.
	knownGoodTTL = 24 * time.Hour
)

// userBackoff is the failure history of one user over all addresses.
type userBackoff struct {
	failures int       // failed passwords since the last success
	last     time.Time // time of the last failure
}

// guard holds the state of password checks that is not a token bucket:
// which addresses and users have a check in flight (at most one each),
// each user's exponential back-off, and the addresses that logged in
// successfully recently ("known good"), whose checks go first. It is safe
// for concurrent use; every method holds its mutex for a few map
// operations.
type guard struct {
	freeFailures int
	maxDelay     time.Duration
	maxTracked   int

	mu        sync.Mutex
	inFlight  map[string]struct{}
	users     map[string]*userBackoff
	knownGood map[netip.Prefix]time.Time
}

func newGuard(freeFailures int, maxDelay time.Duration, maxTracked int) *guard {
	return &guard{
		freeFailures: freeFailures,
		maxDelay:     maxDelay,
		maxTracked:   max(maxTracked, 1),
		inFlight:     make(map[string]struct{}),
		users:        make(map[string]*userBackoff),
		knownGood:    make(map[netip.Prefix]time.Time),
	}
}

// flightKeys are the in-flight keys of one check: its address and its
// user, in two name spaces.
func flightKeys(addr netip.Prefix, user string) (string, string) {
	return "a:" + addr.String(), "u:" + user
}

// begin marks a check of user from addr as in flight. It returns false
// when either already has one.
func (g *guard) begin(addr netip.Prefix, user string) bool {
	ka, ku := flightKeys(addr, user)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, busy := g.inFlight[ka]; busy {
		return false
	}
	if _, busy := g.inFlight[ku]; busy {
		return false
	}
	g.inFlight[ka], g.inFlight[ku] = struct{}{}, struct{}{}

	return true
}

// end clears what begin marked.
func (g *guard) end(addr netip.Prefix, user string) {
	ka, ku := flightKeys(addr, user)
	g.mu.Lock()
	delete(g.inFlight, ka)
	delete(g.inFlight, ku)
	g.mu.Unlock()
}

// delay returns how long the next attempt for user must still wait at now:
// zero for the first freeFailures failures in a row, then one second
// doubling with each further failure, up to maxDelay, counted from the
// last failure.
func (g *guard) delay(user string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.users[user]
	if b == nil || b.failures < g.freeFailures {
		return 0
	}
	wait := g.maxDelay
	if shift := b.failures - g.freeFailures; shift < 30 {
		wait = min(time.Second<<shift, g.maxDelay)
	}

	return max(b.last.Add(wait).Sub(now), 0)
}

// failed records a wrong password for user at now.
func (g *guard) failed(user string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.users[user]
	if b == nil {
		if len(g.users) >= g.maxTracked {
			g.sweepUsers(now)
		}
		b = &userBackoff{}
		g.users[user] = b
	}
	b.failures++
	b.last = now
}

// succeeded records a successful login of user from addr at now: the
// user's back-off starts over and the address is known good.
func (g *guard) succeeded(addr netip.Prefix, user string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.users, user)
	if _, ok := g.knownGood[addr]; !ok && len(g.knownGood) >= g.maxTracked {
		for k, at := range g.knownGood {
			if now.Sub(at) > knownGoodTTL || len(g.knownGood) >= g.maxTracked {
				delete(g.knownGood, k)
			}
		}
	}
	g.knownGood[addr] = now
}

// isKnownGood reports whether addr logged in successfully within
// knownGoodTTL of now.
func (g *guard) isKnownGood(addr netip.Prefix, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.knownGood[addr]

	return ok && now.Sub(at) <= knownGoodTTL
}

// sweepUsers forgets users whose back-off has run out at now, or, when
// none has, the oldest half of them, so that the table stays bounded under
// a flood of made-up user names. g.mu is held.
func (g *guard) sweepUsers(now time.Time) {
	for u, b := range g.users {
		if now.Sub(b.last) > g.maxDelay {
			delete(g.users, u)
		}
	}
	for u := range g.users {
		if len(g.users) < g.maxTracked/2+1 {
			break
		}
		delete(g.users, u)
	}
}
