package sip

import (
	"testing"
	"time"
)

// TestNonces: nonces are accepted within their lifetime only, and only by
// the Nonces that issued them.
func TestNonces(t *testing.T) {
	ours, other := NewNonces(), NewNonces()
	now := time.Now()
	n := ours.New(now)
	tests := []struct {
		name  string
		nonce string
		at    time.Time
		want  bool
	}{
		{"fresh", n, now, true},
		{"within lifetime", n, now.Add(4 * time.Minute), true},
		{"expired", n, now.Add(6 * time.Minute), false},
		{"issued in the future", n, now.Add(-2 * time.Minute), false},
		{"another issuer's", other.New(now), now, false},
		{"forged", "12345.abcdef", now, false},
		{"garbage", "not a nonce", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ours.Valid(tt.nonce, tt.at); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.nonce, got, tt.want)
			}
		})
	}
}
