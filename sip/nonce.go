package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// NonceLifetime is how long a nonce of a digest challenge stays valid; an
// older one is challenged again with stale=true (RFC 7616 section 3.3).
const NonceLifetime = 5 * time.Minute

// nonceSkew is how far in the future a nonce's time of issue may be and
// still be accepted (clock steps between issue and check).
const nonceSkew = time.Minute

// Nonces issues and checks the nonces of digest challenges (RFC 3261
// section 22.4, RFC 7616 section 3.3) without keeping state per challenge:
// a nonce is "unixseconds.hexmac", its time of issue and the hex of the
// first 16 bytes of an HMAC-SHA256 of it under a random key of the
// Nonces. The zero Nonces is not usable: create one with NewNonces.
type Nonces struct {
	key [32]byte
}

// NewNonces returns Nonces with a fresh random key: nonces of one Nonces
// are not valid for another.
func NewNonces() *Nonces {
	n := &Nonces{}
	_, _ = rand.Read(n.key[:]) // crypto/rand.Read never fails (Go 1.24)

	return n
}

// New returns a nonce issued at now.
func (n *Nonces) New(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)

	return ts + "." + n.mac(ts)
}

// Valid reports whether nonce was issued by n no more than NonceLifetime
// before now (and not more than a minute after it).
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	ts, mac, ok := strings.Cut(nonce, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(n.mac(ts))) {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(sec, 0))

	return age >= -nonceSkew && age <= NonceLifetime
}

// mac is the hex of the first 16 bytes of the HMAC-SHA256 of ts.
func (n *Nonces) mac(ts string) string {
	m := hmac.New(sha256.New, n.key[:])
	m.Write([]byte(ts))

	return hex.EncodeToString(m.Sum(nil)[:16])
}
