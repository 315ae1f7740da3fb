package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/telephony"
)

// maxTokenLen bounds the tokens Token parses, in bytes.
const maxTokenLen = 8 << 10

// maxTokenMaxCalls bounds the max_calls claim.
const maxTokenMaxCalls = 1000

// claimError is a failed check of tokenClaims.Validate; its text names the
// claim, never its value.
type claimError string

func (e claimError) Error() string { return string(e) }

// tokenClaims are the claims Webtrunk reads from a token: the registered
// claims of RFC 7519 section 4.1 and three private ones.
type tokenClaims struct {
	jwt.RegisteredClaims
	// Name is the display name (the OpenID Connect "name" claim).
	Name string `json:"name,omitempty"`
	// CallerID is the E.164 number presented on outbound calls.
	CallerID string `json:"caller_id,omitempty"`
	// MaxCalls limits concurrent calls; 0 means unlimited.
	MaxCalls *int `json:"max_calls,omitempty"`
}

// Validate checks the claims beyond the registered ones the parser checks;
// jwt.Parser calls it after verifying the signature and the time claims.
func (c *tokenClaims) Validate() error {
	switch {
	case c.Subject == "":
		return claimError("sub required")
	case !config.ValidUserID(c.Subject):
		return claimError("sub must be 1 to 128 characters of A-Z, a-z, 0-9, ., _, @ and -")
	case len(c.Name) > 128 || !printable(c.Name):
		return claimError("name must be at most 128 bytes of printable ASCII")
	case c.CallerID != "" && !telephony.IsE164(c.CallerID):
		return claimError("caller_id must be an E.164 number")
	case c.MaxCalls != nil && (*c.MaxCalls < 0 || *c.MaxCalls > maxTokenMaxCalls):
		return claimError("max_calls must be from 0 to " + strconv.Itoa(maxTokenMaxCalls))
	}

	return nil
}

func newParser(issuer, audience string, leeway time.Duration, now func() time.Time) *jwt.Parser {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}

	return jwt.NewParser(opts...)
}

// parse verifies token and returns its claims, or an error matching
// ErrExpired or ErrInvalidToken that names what failed but never contains
// the token.
func (c *credentials) parse(token string) (*tokenClaims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	if err := checkShape(token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var claims tokenClaims
	_, err := c.jwtParser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// WithValidMethods has admitted HS256 only; check the type too, so
		// that the key can never be used with another algorithm.
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, fmt.Errorf("%w: unexpected signing method", ErrInvalidToken)
		}

		return c.jwtKey, nil
	})
	switch {
	case err == nil:
		return &claims, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	default:
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, reasonOf(err))
	}
}

// reasonOf names the check a token failed, from the jwt package's sentinels,
// for logs; the client only ever sees "invalid token".
func reasonOf(err error) string {
	var ce claimError
	if errors.As(err, &ce) {
		return string(ce)
	}
	for _, f := range tokenFailures {
		if errors.Is(err, f.err) {
			return f.reason
		}
	}

	return "rejected"
}

// tokenFailures names the jwt package's sentinels, in the order reasonOf
// tries them.
var tokenFailures = []struct {
	err    error
	reason string
}{
	{jwt.ErrTokenMalformed, "malformed"},
	{jwt.ErrTokenSignatureInvalid, "signature or algorithm not accepted"},
	{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
	{jwt.ErrTokenNotValidYet, "not valid yet"},
	{jwt.ErrTokenUsedBeforeIssued, "issued in the future"},
	{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
	{jwt.ErrTokenInvalidAudience, "wrong audience"},
	{jwt.ErrTokenUnverifiable, "unverifiable"},
}

func printable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}

	return true
}

// Shape errors of a token, found before its signature is checked.
var (
	errTokenSegments  = claimError("malformed: not three base64url segments")
	errTokenJSON      = claimError("malformed: header or claims are not one JSON object with unique member names")
	errTokenCrit      = claimError("header: crit names extensions this server does not understand")
	errTokenClaimType = claimError("a registered claim has the wrong JSON type")
)

// checkShape reads the header and claims of a compact JWS (RFC 7515
// section 7.1) more strictly than the jwt package does: each must be one
// JSON object whose member names are unique (RFC 7515 section 4 and RFC
// 7519 section 4 allow a parser to reject duplicates, and accepting the
// last one would let two parsers see different claims); a header with
// "crit" is refused, since no extension is understood here (RFC 7515
// section 4.1.11); exp, nbf and iat must be JSON numbers (RFC 7519 section
// 2 NumericDate, not strings holding numbers), sub, iss, name and
// caller_id strings, aud a string or an array of strings, max_calls a
// number.
func checkShape(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errTokenSegments
	}
	var header, claims map[string]jsontext.Value
	for i, dst := range []*map[string]jsontext.Value{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return errTokenSegments
		}
		if err := json.Unmarshal(raw, dst); err != nil || *dst == nil {
			return errTokenJSON
		}
	}
	if _, ok := header["crit"]; ok {
		return errTokenCrit
	}
	for name, v := range claims {
		kind := v.Kind()
		var ok bool
		switch name {
		case "exp", "nbf", "iat", "max_calls":
			ok = kind == '0'
		case "sub", "iss", "name", "caller_id", "jti":
			ok = kind == '"'
		case "aud":
			ok = kind == '"' || kind == '['
		default:
			ok = true
		}
		if !ok {
			return errTokenClaimType
		}
	}

	return nil
}
