package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/webtrunk/webtrunk/config"
)

const testKey = "0123456789abcdef0123456789abcdef-test-key"

var (
	client = netip.MustParseAddr("127.0.0.1")
	epoch  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func mustPattern(tb testing.TB, s string) config.NumberPattern {
	tb.Helper()
	p, err := config.ParseNumberPattern(s)
	if err != nil {
		tb.Fatalf("ParseNumberPattern(%q): %v", s, err)
	}

	return p
}

func hash(tb testing.TB, password string, cost int) config.Secret {
	tb.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		tb.Fatalf("bcrypt: %v", err)
	}

	return config.NewSecret(string(h))
}

// testConfig has two users, alice with her own dial rules and bob with the
// defaults, and JWT authentication with issuer and audience checks.
func testConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.DefaultDialRules = config.DialRules{Allow: []config.NumberPattern{mustPattern(tb, "+44*")}}
	cfg.Auth.Users = []config.User{
		{
			ID: "alice", PasswordHash: hash(tb, "correct horse", bcrypt.MinCost),
			DisplayName: "Alice", CallerID: "+442079460001", MaxCalls: 3,
			DialRules: &config.DialRules{Allow: []config.NumberPattern{mustPattern(tb, "+1*")}},
		},
		{ID: "bob", PasswordHash: hash(tb, "battery staple", bcrypt.MinCost), MaxCalls: 0},
	}
	cfg.Auth.JWT = config.JWTConfig{HMACKey: config.NewSecret(testKey), Issuer: "https://app.example", Audience: "webtrunk"}

	return cfg
}

// unlimited are the options of an Authenticator that never refuses for
// failed attempts, for tests of something else.
func unlimited() []Option {
	return []Option{
		WithLimiter(NewLimiter(rate.Inf, 1, 16)), WithPairLimit(rate.Inf, 1),
		WithUserBackoff(1<<20, time.Hour),
	}
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAuth(tb testing.TB, cfg *config.Config, opts ...Option) (*Authenticator, *clock) {
	tb.Helper()
	c := &clock{t: epoch}
	a, err := New(cfg, append([]Option{WithClock(c.now)}, opts...)...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}

	return a, c
}

func TestPassword(t *testing.T) {
	cfg := testConfig(t)
	a, _ := newAuth(t, cfg)
	tests := []struct {
		name, user, password string
		wantErr              error
		wantID               string
	}{
		{"alice ok", "alice", "correct horse", nil, "alice"},
		{"bob ok", "bob", "battery staple", nil, "bob"},
		{"wrong password", "alice", "correct horsE", ErrBadCredentials, ""},
		{"other user's password", "alice", "battery staple", ErrBadCredentials, ""},
		{"empty password", "alice", "", ErrBadCredentials, ""},
		{"unknown user", "mallory", "correct horse", ErrBadCredentials, ""},
		{"user id wrong case", "Alice", "correct horse", ErrBadCredentials, ""},
		{"password past bcrypt limit", "alice", "correct horse" + strings.Repeat("x", 72), ErrBadCredentials, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Password(client, tt.user, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Password error = %v, want %v", err, tt.wantErr)
			}
			if id.UserID != tt.wantID {
				t.Fatalf("UserID = %q, want %q", id.UserID, tt.wantID)
			}
			if err != nil && strings.Contains(err.Error(), tt.password) && tt.password != "" {
				t.Fatalf("error %q reveals the password", err)
			}
		})
	}

	id, err := a.Password(client, "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if id.DisplayName != "Alice" || id.CallerID != "+442079460001" || id.MaxCalls != 3 {
		t.Fatalf("alice identity = %+v", id)
	}
	if !id.DialRules.Allows("+15551234567") || id.DialRules.Allows("+442079460000") {
		t.Fatal("alice did not get her own dial rules")
	}
	id, err = a.Password(client, "bob", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if id.MaxCalls != 0 || !id.DialRules.Allows("+442079460000") || id.DialRules.Allows("+15551234567") {
		t.Fatalf("bob identity = %+v, want unlimited calls and the default dial rules", id)
	}
}

// TestPasswordTimingHidesUsers checks that an unknown user costs a bcrypt
// comparison like a known one with a wrong password: the dummy hash has the
// highest configured cost, and the measured times agree. Measurements
// alternate between the two cases so that load on the machine affects both.
func TestPasswordTimingHidesUsers(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Users = []config.User{
		{ID: "alice", PasswordHash: hash(t, "pw", 9)},
		{ID: "bob", PasswordHash: hash(t, "pw", bcrypt.MinCost)},
	}
	a, err := New(cfg, unlimited()...)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(a.creds.Load().dummyHash); err != nil || c != 9 {
		t.Fatalf("dummy hash cost = %d, %v; want the highest configured cost 9", c, err)
	}
	measure := func(user string) time.Duration {
		start := time.Now()
		if _, err := a.Password(client, user, "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("Password(%s) error = %v", user, err)
		}

		return time.Since(start)
	}
	var known, unknown []time.Duration
	for range 7 {
		known = append(known, measure("alice"))
		unknown = append(unknown, measure("nobody"))
	}
	slices.Sort(known)
	slices.Sort(unknown)
	ratio := float64(unknown[3]) / float64(known[3])
	if ratio < 0.4 || ratio > 2.5 {
		t.Fatalf("median wrong password %v, unknown user %v: timing reveals which users exist", known[3], unknown[3])
	}
}

func TestPasswordDisabled(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.JWT.HMACKey = config.NewSecret(testKey)
	a, _ := newAuth(t, cfg)
	if _, err := a.Password(client, "alice", "x"); !errors.Is(err, ErrMethodDisabled) {
		t.Fatalf("Password without users: %v, want ErrMethodDisabled", err)
	}
	cfg = testConfig(t)
	cfg.Auth.JWT = config.JWTConfig{}
	a, _ = newAuth(t, cfg)
	if _, err := a.Token(client, "a.b.c"); !errors.Is(err, ErrMethodDisabled) {
		t.Fatalf("Token without key: %v, want ErrMethodDisabled", err)
	}
}

func TestNewRejectsBadHash(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Users = []config.User{{ID: "alice", PasswordHash: config.NewSecret("plain-text-password")}}
	_, err := New(cfg)
	if !errors.Is(err, ErrBadHash) {
		t.Fatalf("New with a plain password: %v, want ErrBadHash", err)
	}
	if strings.Contains(err.Error(), "plain-text-password") {
		t.Fatalf("error %q reveals the configured value", err)
	}
	cfg = config.Default()
	cfg.Auth.JWT.HMACKey = config.NewSecret("too-short-key")
	if _, err := New(cfg); !errors.Is(err, ErrShortKey) {
		t.Fatalf("New with a short key: %v, want ErrShortKey", err)
	}
	if _, err := New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

func TestClientReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ErrBadCredentials, "invalid user or password"},
		{ErrExpired, "token expired"},
		{ErrInvalidToken, "invalid token"},
		{ErrRateLimited, "too many failed attempts, try again later"},
		{ErrMethodDisabled, "authentication method not enabled"},
	}
	for _, tt := range tests {
		if got := ClientReason(tt.err); got != tt.want {
			t.Errorf("ClientReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}

	return s
}

// validRaw is the JSON text of valid claims for sub, with extra members
// appended as they are (duplicates included).
func validRaw(sub string, extra ...string) string {
	members := []string{
		`"sub":"` + sub + `"`, `"iss":"https://app.example"`, `"aud":"webtrunk"`,
		`"exp":` + strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10),
	}

	return "{" + strings.Join(append(members, extra...), ",") + "}"
}

// signRaw signs header and claims given as JSON text with HS256 and the test
// key, without re-encoding them, so that tests can send what an encoder
// would not produce.
func signRaw(tb testing.TB, header, claims string) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write([]byte(input))

	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestToken(t *testing.T) {
	cfg := testConfig(t)
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{
			"sub": "carol", "iss": "https://app.example", "aud": "webtrunk",
			"exp": epoch.Add(time.Hour).Unix(), "iat": epoch.Add(-time.Minute).Unix(),
		}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}

		return c
	}
	hs256 := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(testKey), c) }
	tampered := hs256(valid())
	parts := strings.Split(tampered, ".")
	otherPayload := strings.Split(hs256(with("sub", "alice")), ".")[1]
	tampered = parts[0] + "." + otherPayload + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		wantErr error
		wantID  string
	}{
		{"valid", hs256(valid()), nil, "carol"},
		{"audience in list", hs256(with("aud", []string{"other", "webtrunk"})), nil, "carol"},
		{"expired within leeway", hs256(with("exp", epoch.Add(-10*time.Second).Unix())), nil, "carol"},
		{"no iat", hs256(with("iat", nil)), nil, "carol"},
		{"expired", hs256(with("exp", epoch.Add(-time.Minute).Unix())), ErrExpired, ""},
		{"no exp", hs256(with("exp", nil)), ErrInvalidToken, ""},
		{"no sub", hs256(with("sub", nil)), ErrInvalidToken, ""},
		{"empty sub", hs256(with("sub", "")), ErrInvalidToken, ""},
		{"sub not a user id", hs256(with("sub", "carol smith")), ErrInvalidToken, ""},
		{"sub number", hs256(with("sub", 42)), ErrInvalidToken, ""},
		{"wrong audience", hs256(with("aud", "other")), ErrInvalidToken, ""},
		{"no audience", hs256(with("aud", nil)), ErrInvalidToken, ""},
		{"wrong issuer", hs256(with("iss", "https://evil.example")), ErrInvalidToken, ""},
		{"not yet valid", hs256(with("nbf", epoch.Add(time.Hour).Unix())), ErrInvalidToken, ""},
		{"issued in the future", hs256(with("iat", epoch.Add(time.Hour).Unix())), ErrInvalidToken, ""},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another-key!"), valid()), ErrInvalidToken, ""},
		{"HS512 with the key", sign(t, jwt.SigningMethodHS512, []byte(testKey), valid()), ErrInvalidToken, ""},
		{"HS384 with the key", sign(t, jwt.SigningMethodHS384, []byte(testKey), valid()), ErrInvalidToken, ""},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()), ErrInvalidToken, ""},
		{"tampered payload", tampered, ErrInvalidToken, ""},
		{"bad caller_id", hs256(with("caller_id", "0207946000")), ErrInvalidToken, ""},
		{"negative max_calls", hs256(with("max_calls", -1)), ErrInvalidToken, ""},
		{"name with newline", hs256(with("name", "Carol\nadmin")), ErrInvalidToken, ""},
		{"garbage", "not-a-token", ErrInvalidToken, ""},
		{"empty", "", ErrInvalidToken, ""},
		{"too long", hs256(with("name", strings.Repeat("n", maxTokenLen))), ErrInvalidToken, ""},
		{"valid raw", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, validRaw("carol")), nil, "carol"},
		{"duplicate sub", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, validRaw("carol", `"sub":"alice"`)), ErrInvalidToken, ""},
		{"duplicate exp", signRaw(t, `{"alg":"HS256","typ":"JWT"}`, validRaw("carol", `"exp":1`)), ErrInvalidToken, ""},
		{"crit header", signRaw(t, `{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}`, validRaw("carol")), ErrInvalidToken, ""},
		{"duplicate alg", signRaw(t, `{"alg":"none","alg":"HS256"}`, validRaw("carol")), ErrInvalidToken, ""},
		{"exp as a string", signRaw(t, `{"alg":"HS256"}`, strings.Replace(validRaw("carol"), `"exp":`+strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10), `"exp":"`+strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10)+`"`, 1)), ErrInvalidToken, ""},
		{"claims not an object", signRaw(t, `{"alg":"HS256"}`, `["sub","carol"]`), ErrInvalidToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newAuth(t, cfg, WithLimiter(NewLimiter(rate.Inf, 1, 16)))
			id, err := a.Token(client, tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Token error = %v, want %v", err, tt.wantErr)
			}
			if id.UserID != tt.wantID {
				t.Fatalf("UserID = %q, want %q", id.UserID, tt.wantID)
			}
			if err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error reveals the token")
			}
		})
	}
}

func TestTokenIdentity(t *testing.T) {
	cfg := testConfig(t)
	a, _ := newAuth(t, cfg)
	base := jwt.MapClaims{
		"iss": "https://app.example", "aud": "webtrunk", "exp": epoch.Add(time.Hour).Unix(),
	}
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range base {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}

		return c
	}
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   Identity
	}{
		{"token user with claims", claims(jwt.MapClaims{"sub": "carol", "name": "Carol", "caller_id": "+442079460009", "max_calls": 5}),
			Identity{UserID: "carol", DisplayName: "Carol", CallerID: "+442079460009", MaxCalls: 5, DialRules: &cfg.DefaultDialRules}},
		{"token user unlimited", claims(jwt.MapClaims{"sub": "dave", "max_calls": 0}),
			Identity{UserID: "dave", MaxCalls: 0, DialRules: &cfg.DefaultDialRules}},
		{"token user defaults", claims(jwt.MapClaims{"sub": "erin@example.com"}),
			Identity{UserID: "erin@example.com", MaxCalls: DefaultMaxCalls, DialRules: &cfg.DefaultDialRules}},
		{"configured user wins over claims", claims(jwt.MapClaims{"sub": "alice", "name": "Not Alice", "max_calls": 99}),
			Identity{UserID: "alice", DisplayName: "Alice", CallerID: "+442079460001", MaxCalls: 3, DialRules: cfg.Auth.Users[0].DialRules}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Token(client, sign(t, jwt.SigningMethodHS256, []byte(testKey), tt.claims))
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if id != tt.want {
				t.Fatalf("Identity = %+v, want %+v", id, tt.want)
			}
		})
	}
}

func TestTokenWithoutIssuerAudience(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.JWT.Issuer, cfg.Auth.JWT.Audience = "", ""
	a, _ := newAuth(t, cfg)
	tok := sign(t, jwt.SigningMethodHS256, []byte(testKey), jwt.MapClaims{"sub": "carol", "exp": epoch.Add(time.Minute).Unix()})
	if id, err := a.Token(client, tok); err != nil || id.UserID != "carol" {
		t.Fatalf("Token = %+v, %v", id, err)
	}
}

// TestTokenExpiresWithClock checks expiry against the injected clock, with
// the leeway.
func TestTokenExpiresWithClock(t *testing.T) {
	cfg := testConfig(t)
	a, c := newAuth(t, cfg, WithLeeway(5*time.Second))
	tok := sign(t, jwt.SigningMethodHS256, []byte(testKey), jwt.MapClaims{
		"sub": "carol", "iss": "https://app.example", "aud": "webtrunk", "exp": epoch.Add(time.Minute).Unix(),
	})
	steps := []struct {
		at      time.Duration
		wantErr error
	}{
		{0, nil},
		{time.Minute, nil},
		{time.Minute + 4*time.Second, nil},
		{time.Minute + 6*time.Second, ErrExpired},
	}
	for _, s := range steps {
		c.t = epoch.Add(s.at)
		if _, err := a.Token(client, tok); !errors.Is(err, s.wantErr) {
			t.Fatalf("at +%v: error = %v, want %v", s.at, err, s.wantErr)
		}
	}
}
