package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/webtrunk/webtrunk/config"
)

// FuzzToken feeds arbitrary strings, and mutations of valid and hostile
// tokens, to Token: it must never panic, must fail only with ErrExpired or
// ErrInvalidToken, must never put the token in its error, and what it
// accepts must carry a valid user id.
func FuzzToken(f *testing.F) {
	cfg := testConfig(f)
	claims := jwt.MapClaims{"sub": "carol", "iss": "https://app.example", "aud": "webtrunk", "exp": epoch.Unix() + 3600}
	valid, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testKey))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		valid, "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		signRaw(f, `{"alg":"HS256"}`, validRaw("carol", `"sub":"alice"`)),
		signRaw(f, `{"alg":"HS256","crit":["x"]}`, validRaw("carol")),
		strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + ".",
	} {
		f.Add(s)
	}
	a, _ := newAuth(f, cfg, unlimited()...)
	f.Fuzz(func(t *testing.T, token string) {
		id, err := a.Token(client, token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrExpired) {
				t.Fatalf("undocumented error %v", err)
			}
			if len(token) > 8 && strings.Contains(err.Error(), token) {
				t.Fatal("error reveals the token")
			}

			return
		}
		if !config.ValidUserID(id.UserID) {
			t.Fatalf("accepted a token for user id %q", id.UserID)
		}
	})
}
