// Package auth authenticates the browsers of Webtrunk's signaling protocol:
// users configured with a bcrypt password hash, and users whose own backend
// issued them an HS256 JSON Web Token (RFC 7519). Credentials and tokens are
// never logged and never appear in returned errors.
//
// Password guessing is limited on three levels, each spent before the
// check so that parallel attempts cannot outrun it: a token bucket per
// (address, user) pair, a larger one per address over all users (credential
// stuffing), and an exponential back-off per user over all addresses
// (distributed guessing). A guesser therefore locks out its own pair, not
// the right password of the other users behind its address. At most one
// password check per address and per user is in flight at a time, and the
// bcrypt comparisons run in a bounded number of slots with a bounded,
// prioritised queue: checks from addresses that logged in successfully
// recently go first, then those from addresses without failures, and a
// flood beyond the queue is refused with ErrTryLater instead of delaying
// everyone. Token logins never wait for bcrypt.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/webtrunk/webtrunk/config"
)

// Errors of authentication, matched with errors.Is. Signaling answers each
// with the protocol code "unauthorized" and the text of [ClientReason].
var (
	// ErrBadCredentials: unknown user or wrong password. The two are not
	// told apart, in the error or in the time taken.
	ErrBadCredentials = errors.New("auth: bad credentials")
	// ErrExpired: the token's exp claim is in the past (beyond the leeway).
	ErrExpired = errors.New("auth: token expired")
	// ErrInvalidToken: the token is malformed, not signed with HS256 and
	// the configured key, not yet valid, or lacks or fails a required claim
	// (exp, sub, iss, aud).
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrRateLimited: too many failed attempts came from the client's
	// address, for the user from that address, or for the user from
	// anywhere; the attempt was refused without checking it.
	ErrRateLimited = errors.New("auth: too many failed attempts")
	// ErrTryLater: the password could not be checked now: another check
	// for the same address or user is in flight, or the server is busy
	// with other checks. Nothing was spent; the client may retry after a
	// short wait.
	ErrTryLater = errors.New("auth: busy, try again later")
	// ErrMethodDisabled: the configuration does not enable the method
	// asked for: passwords without configured users, tokens without a key.
	ErrMethodDisabled = errors.New("auth: authentication method not enabled")
	// ErrBadHash: a configured password hash is not a bcrypt hash (New).
	ErrBadHash = errors.New("auth: password hash is not a bcrypt hash")
	// ErrShortKey: the JWT key is shorter than the 32 bytes RFC 7518
	// section 3.2 requires for HS256 (New).
	ErrShortKey = errors.New("auth: jwt key shorter than 32 bytes")
)

// minKeyLen is the shortest HS256 key, the size of its hash output.
const minKeyLen = 32

// ClientReason returns the explanation to give the client for an error of
// this package: it distinguishes an expired token (so the client fetches a
// new one) and rate limiting (so it waits), and nothing else.
func ClientReason(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "token expired"
	case errors.Is(err, ErrRateLimited):
		return "too many failed attempts, try again later"
	case errors.Is(err, ErrTryLater):
		return "busy, try again in a moment"
	case errors.Is(err, ErrInvalidToken):
		return "invalid token"
	case errors.Is(err, ErrMethodDisabled):
		return "authentication method not enabled"
	default:
		return "invalid user or password"
	}
}

// DefaultMaxCalls is the concurrent-call limit of a token user whose token
// carries no max_calls claim; it equals the default of configured users.
const DefaultMaxCalls = 2

// maxPasswordLen is bcrypt's limit: it ignores bytes past the 72nd, so a
// longer password is refused rather than silently truncated.
const maxPasswordLen = 72

// Identity is an authenticated user and what it may do.
type Identity struct {
	// UserID is the configured user's id, or the token's sub claim.
	UserID string
	// DisplayName is shown to called parties where the trunk allows it;
	// may be empty.
	DisplayName string
	// CallerID is the E.164 number presented on the user's outbound calls;
	// empty means the trunk's default.
	CallerID string
	// MaxCalls limits the user's concurrent calls; 0 means unlimited.
	MaxCalls int
	// DialRules are the numbers the user may call; never nil. It points
	// into the configuration and must not be modified.
	DialRules *config.DialRules
	// Privacy is config.PrivacyID when the user's number is withheld on
	// every outbound call; "" or config.PrivacyNone otherwise.
	Privacy config.Privacy
}

// LogValue implements slog.LogValuer with the user id only.
func (id Identity) LogValue() slog.Value { return slog.StringValue(id.UserID) }

// user is a configured user with its hash decoded once.
type user struct {
	identity Identity
	hash     []byte
}

// Authenticator checks passwords and tokens. It is safe for concurrent use.
type Authenticator struct {
	// creds are the users and the token key of the current configuration,
	// replaced as a whole by Update.
	creds  atomic.Pointer[credentials]
	leeway time.Duration

	// pairs limits failed passwords per (address, user) pair, limiter
	// per address over all users and all methods.
	pairs   *table[pairKey]
	limiter *Limiter
	guard   *guard
	// gate bounds concurrent bcrypt comparisons and their queue, so that
	// a flood of logins cannot take every CPU from the calls' media
	// goroutines nor delay every other login.
	gate *gate
	now  func() time.Time
}

// credentials are one configuration's users and token settings.
type credentials struct {
	users        map[string]user
	dummyHash    []byte
	dummyCost    int
	defaultRules *config.DialRules

	jwtParser *jwt.Parser
	jwtKey    []byte
}

// pairKey is an (address, user) pair of the per-pair limiter.
type pairKey struct {
	addr netip.Prefix
	user string
}

// Option adjusts an Authenticator.
type Option func(*options)

type options struct {
	now     func() time.Time
	leeway  time.Duration
	limiter *Limiter
	pair    struct {
		limit rate.Limit
		burst int
	}
	userFree               int
	userMaxDelay           time.Duration
	slots, reserved, queue int
	maxWait                time.Duration
}

// WithClock replaces time.Now, for tests of expiry and rate limiting.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLeeway sets the clock skew tolerated on the exp, nbf and iat claims
// (RFC 7519 section 4.1.4). Default 30s.
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithLimiter replaces the default limiter of failed attempts per address
// over all users and methods (NewLimiter(DefaultAddressFailureRate,
// DefaultAddressFailureBurst, DefaultLimiterSize)).
func WithLimiter(l *Limiter) Option { return func(o *options) { o.limiter = l } }

// WithPairLimit sets the failed passwords one (address, user) pair may
// make in a row (burst) and how fast it regains them (limit per second).
// Default DefaultFailureBurst and DefaultFailureRate.
func WithPairLimit(limit rate.Limit, burst int) Option {
	return func(o *options) { o.pair.limit, o.pair.burst = limit, burst }
}

// WithUserBackoff sets the per-user back-off: free failed passwords in a
// row from any addresses, then a wait of one second doubling per further
// failure up to maxDelay. Default DefaultUserFreeFailures and
// DefaultUserMaxDelay.
func WithUserBackoff(free int, maxDelay time.Duration) Option {
	return func(o *options) { o.userFree, o.userMaxDelay = free, maxDelay }
}

// WithBcryptQueue sets how many bcrypt comparisons run at once (slots,
// default half the CPUs, at least one), how many more only checks from
// known-good addresses may run (reserved, default 1), how many checks may
// wait for a slot (queue, default 8 per slot) and for how long at most
// (maxWait, default 2 s) before they are refused with ErrTryLater.
func WithBcryptQueue(slots, reserved, queue int, maxWait time.Duration) Option {
	return func(o *options) { o.slots, o.reserved, o.queue, o.maxWait = slots, reserved, queue, maxWait }
}

// New builds an Authenticator from a loaded configuration: its auth.users
// (with their bcrypt hashes), auth.jwt (key, issuer, audience) and
// default_dial_rules. It returns an error when cfg is nil, one wrapping
// [ErrBadHash] when a configured hash is not a bcrypt hash, or one wrapping
// [ErrShortKey]. It hashes one random password at the highest configured
// cost, to compare unknown users against, which takes as long as one login.
func New(cfg *config.Config, opts ...Option) (*Authenticator, error) {
	if cfg == nil {
		return nil, errors.New("auth: nil config") //nolint:err113 // programming error, not matched by callers
	}
	slots := max(1, runtime.GOMAXPROCS(0)/2)
	o := options{
		now: time.Now, leeway: 30 * time.Second,
		userFree: DefaultUserFreeFailures, userMaxDelay: DefaultUserMaxDelay,
		slots: slots, reserved: 1, queue: 8 * slots, maxWait: 2 * time.Second,
	}
	o.pair.limit, o.pair.burst = DefaultFailureRate, DefaultFailureBurst
	for _, opt := range opts {
		opt(&o)
	}
	if o.limiter == nil {
		o.limiter = NewLimiter(DefaultAddressFailureRate, DefaultAddressFailureBurst, DefaultLimiterSize)
	}
	pairs := newTable[pairKey](o.pair.limit, o.pair.burst, DefaultLimiterSize)
	a := &Authenticator{
		leeway:  o.leeway,
		pairs:   &pairs,
		limiter: o.limiter,
		guard:   newGuard(o.userFree, o.userMaxDelay, DefaultLimiterSize),
		gate:    newGate(o.slots, o.reserved, o.queue, o.maxWait),
		now:     o.now,
	}
	if err := a.Update(cfg); err != nil {
		return nil, err
	}

	return a, nil
}

// Update replaces the users (with their hashes), the token settings and
// the default dial rules with those of cfg, for every login from now on;
// the limits of failed attempts and their counts are kept. It returns the
// errors of New, leaving the Authenticator unchanged. When the highest
// bcrypt cost changed it hashes a new random password, which takes as
// long as one login.
func (a *Authenticator) Update(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("auth: nil config") //nolint:err113 // programming error, not matched by callers
	}
	prev := a.creds.Load()
	c := &credentials{
		users:        make(map[string]user, len(cfg.Auth.Users)),
		defaultRules: &cfg.DefaultDialRules,
	}
	cost := bcrypt.MinCost
	for i := range cfg.Auth.Users {
		u := &cfg.Auth.Users[i]
		hash := []byte(u.PasswordHash.Reveal())
		hc, err := bcrypt.Cost(hash)
		if err != nil {
			return fmt.Errorf("%w: user %q", ErrBadHash, u.ID)
		}
		cost = max(cost, hc)
		rules := u.DialRules
		if rules == nil {
			rules = c.defaultRules
		}
		c.users[u.ID] = user{
			hash: hash,
			identity: Identity{
				UserID:      u.ID,
				DisplayName: u.DisplayName,
				CallerID:    u.CallerID,
				MaxCalls:    u.MaxCalls,
				DialRules:   rules,
				Privacy:     u.Privacy,
			},
		}
	}
	if jc := cfg.Auth.JWT; jc.Enabled() {
		if jc.HMACKey.Len() < minKeyLen {
			return ErrShortKey
		}
		c.jwtKey = []byte(jc.HMACKey.Reveal())
		c.jwtParser = newParser(jc.Issuer, jc.Audience, a.leeway, a.now)
	}
	if len(c.users) > 0 {
		// The dummy hash has the highest configured cost, so that an
		// unknown user takes as long as the slowest known one.
		if prev != nil && prev.dummyCost == cost && prev.dummyHash != nil {
			c.dummyHash, c.dummyCost = prev.dummyHash, cost
		} else {
			dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
			if err != nil {
				return fmt.Errorf("auth: dummy hash: %w", err)
			}
			c.dummyHash, c.dummyCost = dummy, cost
		}
	}
	a.creds.Store(c)

	return nil
}

// Password authenticates a configured user by password for a client at
// remote (its IP address; the port is ignored). It returns the user's
// Identity, or an error matching [ErrBadCredentials] (unknown user or wrong
// password, indistinguishable also in timing), [ErrRateLimited] (no failed
// attempt left for the pair, the address or the user), [ErrTryLater] (a
// check for the same address or user is in flight, or the bcrypt queue has
// no room) or [ErrMethodDisabled] (no users configured).
//
// The attempt is charged to the pair and the address before the
// comparison and refunded when it succeeds. It takes as long as one bcrypt
// comparison (tens of milliseconds at the default cost) plus its wait for
// a slot, bounded by the queue's maximum wait.
func (a *Authenticator) Password(remote netip.Addr, userID, password string) (Identity, error) {
	creds := a.creds.Load()
	if len(creds.users) == 0 {
		return Identity{}, ErrMethodDisabled
	}
	now := a.now()
	addr := keyOf(remote)
	if !a.guard.begin(addr, userID) {
		return Identity{}, ErrTryLater
	}
	defer a.guard.end(addr, userID)
	if a.guard.delay(userID, now) > 0 {
		return Identity{}, ErrRateLimited
	}
	prio := prioritySuspect
	switch {
	case a.guard.isKnownGood(addr, now):
		prio = priorityKnownGood
	case a.limiter.Full(remote, now) && a.pairs.full(pairKey{addr, userID}, now):
		prio = priorityClean
	}
	pairRes, ok := a.pairs.reserve(pairKey{addr, userID}, now)
	if !ok {
		return Identity{}, ErrRateLimited
	}
	addrRes, ok := a.limiter.Reserve(remote, now)
	if !ok {
		pairRes.Refund()

		return Identity{}, ErrRateLimited
	}
	slot, err := a.gate.acquire(prio)
	if err != nil {
		pairRes.Refund()
		addrRes.Refund()

		return Identity{}, err
	}
	u, known := creds.users[userID]
	hash := u.hash
	if !known {
		hash = creds.dummyHash
	}
	// The comparison runs whether or not the user exists, so the time
	// taken does not reveal which users exist.
	err = bcrypt.CompareHashAndPassword(hash, []byte(password))
	slot.release()
	if err != nil || !known || len(password) > maxPasswordLen {
		a.guard.failed(userID, now)

		return Identity{}, ErrBadCredentials
	}
	pairRes.Refund()
	addrRes.Refund()
	a.guard.succeeded(addr, userID, now)

	return u.identity, nil
}

// Token authenticates the bearer of an HS256 JWT for a client at remote.
// The token must be signed with the configured key (alg HS256 only, RFC
// 7518 section 3.2), carry exp (RFC 7519 section 4.1.4) and a sub naming
// the user (section 4.1.2), and match the configured iss and aud when
// those are set; nbf and iat, when present, must not be in the future. The
// leeway applies to every time claim.
//
// When sub names a configured user, the Identity is that user's.
// Otherwise it is built from the token: the optional claims "name"
// (display name), "caller_id" (E.164 number) and "max_calls" (a
// non-negative integer, default [DefaultMaxCalls]), with the
// configuration's default_dial_rules.
//
// Errors match [ErrExpired], [ErrInvalidToken], [ErrRateLimited] or
// [ErrMethodDisabled] (no key configured). The attempt is charged to
// remote's allowance of failed attempts before the check and refunded when
// it succeeds. A token is never compared with bcrypt, so token logins do
// not wait behind password checks.
func (a *Authenticator) Token(remote netip.Addr, token string) (Identity, error) {
	creds := a.creds.Load()
	if creds.jwtParser == nil {
		return Identity{}, ErrMethodDisabled
	}
	now := a.now()
	res, ok := a.limiter.Reserve(remote, now)
	if !ok {
		return Identity{}, ErrRateLimited
	}
	claims, err := creds.parse(token)
	if err != nil {
		return Identity{}, err
	}
	res.Refund()
	if u, ok := creds.users[claims.Subject]; ok {
		return u.identity, nil
	}
	maxCalls := DefaultMaxCalls
	if claims.MaxCalls != nil {
		maxCalls = *claims.MaxCalls
	}

	return Identity{
		UserID:      claims.Subject,
		DisplayName: claims.Name,
		CallerID:    claims.CallerID,
		MaxCalls:    maxCalls,
		DialRules:   creds.defaultRules,
	}, nil
}
