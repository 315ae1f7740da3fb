package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSignVerify: a signature verifies with its secret and body within
// the tolerance, and fails for another secret, another body, a tampered
// or malformed header, or an old time.
func TestSignVerify(t *testing.T) {
	secret, body := []byte("0123456789abcdef"), []byte(`{"id":"e1","type":"call.ended"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := Sign(secret, now, body)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") || len(sig) != len("t=1800000000,v1=")+64 {
		t.Fatalf("signature %q", sig)
	}
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		at     time.Time
		ok     bool
	}{
		{"valid", secret, sig, body, now.Add(10 * time.Second), true},
		{"other secret", []byte("fedcba9876543210"), sig, body, now, false},
		{"other body", secret, sig, []byte(`{}`), now, false},
		{"tampered", secret, strings.Replace(sig, "v1=", "v1=0", 1), body, now, false},
		{"no time", secret, sig[strings.Index(sig, ",")+1:], body, now, false},
		{"old", secret, sig, body, now.Add(10 * time.Minute), false},
	}
	for _, tc := range tests {
		err := Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadSignature)) {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
