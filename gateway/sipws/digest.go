package sipws

import (
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/icholy/digest"

	"github.com/webtrunk/webtrunk/sip"
)

// Why a request's credentials were not accepted.
var (
	errNoCredentials = errors.New("sipws: no credentials")
	errStaleNonce    = errors.New("sipws: stale nonce")
	errBadCredential = errors.New("sipws: wrong credentials")
)

// digestAuth checks digest credentials (RFC 3261 section 22, RFC 7616)
// against the users' SIP passwords. Nonces carry their time of issue and
// an HMAC of it (sip.Nonces), so that no state is kept per challenge.
type digestAuth struct {
	realm    string
	algs     []string
	password func(user string) (string, bool)
	nonces   *sip.Nonces
	now      func() time.Time
}

func newDigestAuth(realm string, algs []string, password func(string) (string, bool)) *digestAuth {
	a := &digestAuth{realm: realm, algs: algs, password: password, nonces: sip.NewNonces(), now: time.Now}
	if len(a.algs) == 0 {
		a.algs = []string{"MD5"}
	}

	return a
}

// challenges returns the values of the WWW-Authenticate (or
// Proxy-Authenticate) headers: one per algorithm, in the configured order,
// each with qop=auth (RFC 7616 section 3.3).
func (a *digestAuth) challenges(stale bool) []string {
	nonce := a.nonces.New(a.now())
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
	if !a.nonces.Valid(cred.Nonce, a.now()) {
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
