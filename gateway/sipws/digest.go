package sipws

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// nonceLifetime is how long a nonce of our challenges is accepted; an
// older one is challenged again with stale=true (RFC 7616 section 3.3).
const nonceLifetime = 5 * time.Minute

// Why a request's credentials were not accepted.
var (
	errNoCredentials = errors.New("sipws: no credentials")
	errStaleNonce    = errors.New("sipws: stale nonce")
	errBadCredential = errors.New("sipws: wrong credentials")
)

// digestAuth checks digest credentials (RFC 3261 section 22, RFC 7616)
// against the users' SIP passwords. Nonces carry their time of issue and
// an HMAC of it, so that no state is kept per challenge.
type digestAuth struct {
	realm    string
	algs     []string
	password func(user string) (string, bool)
	key      [32]byte
	now      func() time.Time
}

func newDigestAuth(realm string, algs []string, password func(string) (string, bool)) *digestAuth {
	a := &digestAuth{realm: realm, algs: algs, password: password, now: time.Now}
	if len(a.algs) == 0 {
		a.algs = []string{"MD5"}
	}
	_, _ = randRead(a.key[:])

	return a
}

// challenges returns the values of the WWW-Authenticate (or
// Proxy-Authenticate) headers: one per algorithm, in the configured order,
// each with qop=auth (RFC 7616 section 3.3).
func (a *digestAuth) challenges(stale bool) []string {
	nonce := a.nonce(a.now())
	out := make([]string, 0, len(a.algs))
	for _, alg := range a.algs {
		v := `Digest realm="` + a.realm + `", nonce="` + nonce + `", algorithm=` + alg + `, qop="auth"`
		if stale {
			v += ", stale=true"
		}
		out = append(out, v)
	}

	return out
}

// check verifies the credentials in header value h for a request of
// method and returns the user: errNoCredentials when h holds none for our
// realm, errStaleNonce for an expired nonce, errBadCredential otherwise.
func (a *digestAuth) check(h, method string) (string, error) {
	if h == "" {
		return "", errNoCredentials
	}
	cred, err := digest.ParseCredentials(h)
	if err != nil || cred.Realm != a.realm {
		return "", errNoCredentials
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = "MD5"
	}
	if !a.allowed(alg) || cred.Userhash {
		return "", errBadCredential
	}
	if !a.nonceValid(cred.Nonce, a.now()) {
		return "", errStaleNonce
	}
	pw, ok := a.password(cred.Username)
	if !ok {
		return "", errBadCredential
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: alg}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: method, URI: cred.URI, Username: cred.Username, Password: pw,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
		return "", errBadCredential
	}

	return cred.Username, nil
}

// allowed reports whether alg is one of the configured algorithms.
func (a *digestAuth) allowed(alg string) bool {
	for _, x := range a.algs {
		if strings.EqualFold(x, alg) {
			return true
		}
	}

	return false
}

// nonce returns "unixseconds.hexmac".
func (a *digestAuth) nonce(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)

	return ts + "." + a.mac(ts)
}

// nonceValid reports whether nonce was issued here within nonceLifetime.
func (a *digestAuth) nonceValid(nonce string, now time.Time) bool {
	ts, mac, ok := strings.Cut(nonce, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(a.mac(ts))) {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(sec, 0))

	return age >= -time.Minute && age <= nonceLifetime
}

// mac is the hex HMAC-SHA256 of ts under the nonce key.
func (a *digestAuth) mac(ts string) string {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(ts))

	return hex.EncodeToString(m.Sum(nil))
}
