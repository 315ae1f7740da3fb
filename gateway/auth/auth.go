// Package auth authenticates the browsers of Webtrunk's signaling protocol:
// users configured with a bcrypt password hash, and users whose own backend
// issued them an HS256 JSON Web Token (RFC 7519). Failed attempts are rate
// limited per client address. Credentials and tokens are never logged and
// never appear in returned errors.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

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
	// address; the attempt was refused without checking it.
	ErrRateLimited = errors.New("auth: too many failed attempts")
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
	users        map[string]user
	dummyHash    []byte
	defaultRules *config.DialRules

	jwtParser *jwt.Parser
	jwtKey    []byte

	limiter *Limiter
	now     func() time.Time
	// bcryptSlots bounds concurrent bcrypt comparisons, so that a flood
	// of logins cannot take every CPU from the calls' media goroutines.
	bcryptSlots chan struct{}
}

// Option adjusts an Authenticator.
type Option func(*options)

type options struct {
	now     func() time.Time
	leeway  time.Duration
	limiter *Limiter
}

// WithClock replaces time.Now, for tests of expiry and rate limiting.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLeeway sets the clock skew tolerated on the exp, nbf and iat claims
// (RFC 7519 section 4.1.4). Default 30s.
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithLimiter replaces the default limiter of failed attempts
// (NewLimiter(DefaultFailureRate, DefaultFailureBurst, DefaultLimiterSize)).
func WithLimiter(l *Limiter) Option { return func(o *options) { o.limiter = l } }

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
	o := options{now: time.Now, leeway: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.limiter == nil {
		o.limiter = NewLimiter(DefaultFailureRate, DefaultFailureBurst, DefaultLimiterSize)
	}
	a := &Authenticator{
		users:        make(map[string]user, len(cfg.Auth.Users)),
		defaultRules: &cfg.DefaultDialRules,
		limiter:      o.limiter,
		now:          o.now,
		bcryptSlots:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	cost := bcrypt.MinCost
	for i := range cfg.Auth.Users {
		u := &cfg.Auth.Users[i]
		hash := []byte(u.PasswordHash.Reveal())
		c, err := bcrypt.Cost(hash)
		if err != nil {
			return nil, fmt.Errorf("%w: user %q", ErrBadHash, u.ID)
		}
		cost = max(cost, c)
		rules := u.DialRules
		if rules == nil {
			rules = a.defaultRules
		}
		a.users[u.ID] = user{
			hash: hash,
			identity: Identity{
				UserID:      u.ID,
				DisplayName: u.DisplayName,
				CallerID:    u.CallerID,
				MaxCalls:    u.MaxCalls,
				DialRules:   rules,
			},
		}
	}
	if len(a.users) > 0 {
		// The dummy hash has the highest configured cost, so that an
		// unknown user takes as long as the slowest known one.
		dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
		if err != nil {
			return nil, fmt.Errorf("auth: dummy hash: %w", err)
		}
		a.dummyHash = dummy
	}
	if jc := cfg.Auth.JWT; jc.Enabled() {
		if jc.HMACKey.Len() < minKeyLen {
			return nil, ErrShortKey
		}
		a.jwtKey = []byte(jc.HMACKey.Reveal())
		a.jwtParser = newParser(jc.Issuer, jc.Audience, o.leeway, o.now)
	}

	return a, nil
}

// Password authenticates a configured user by password for a client at
// remote (its IP address; the port is ignored). It returns the user's
// Identity, or an error matching [ErrBadCredentials] (unknown user or wrong
// password, indistinguishable also in timing), [ErrRateLimited] or
// [ErrMethodDisabled] (no users configured). A failure counts against
// remote's allowance of failed attempts. It takes as long as one bcrypt
// comparison (tens of milliseconds at the default cost); at most half the
// CPUs compare at once, and further callers wait their turn.
func (a *Authenticator) Password(remote netip.Addr, userID, password string) (Identity, error) {
	if len(a.users) == 0 {
		return Identity{}, ErrMethodDisabled
	}
	now := a.now()
	if !a.limiter.Allowed(remote, now) {
		return Identity{}, ErrRateLimited
	}
	u, known := a.users[userID]
	hash := u.hash
	if !known {
		hash = a.dummyHash
	}
	// The comparison runs whether or not the user exists, so the time
	// taken does not reveal which users exist.
	a.bcryptSlots <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-a.bcryptSlots
	if err != nil || !known || len(password) > maxPasswordLen {
		a.limiter.Failed(remote, now)

		return Identity{}, ErrBadCredentials
	}

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
// [ErrMethodDisabled] (no key configured). A failure counts against remote's
// allowance of failed attempts.
func (a *Authenticator) Token(remote netip.Addr, token string) (Identity, error) {
	if a.jwtParser == nil {
		return Identity{}, ErrMethodDisabled
	}
	now := a.now()
	if !a.limiter.Allowed(remote, now) {
		return Identity{}, ErrRateLimited
	}
	claims, err := a.parse(token)
	if err != nil {
		a.limiter.Failed(remote, now)

		return Identity{}, err
	}
	if u, ok := a.users[claims.Subject]; ok {
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
		DialRules:   a.defaultRules,
	}, nil
}
