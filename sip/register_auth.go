package sip

import (
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// regAuth is the digest challenge a registrar last accepted credentials for, kept per
// registration so that later REGISTERs (refreshes and the final un-REGISTER) carry credentials
// pre-emptively instead of drawing a 401/407 each time (RFC 3261 section 22.3). It is guarded
// by registration.mu.
type regAuth struct {
	chal  digest.Challenge
	proxy bool // challenged with 407: answer in Proxy-Authorization, else Authorization
	nc    int  // nonce count of the last request sent with chal.Nonce (RFC 7616 section 3.4)
}

// maxNonceCount is the highest nonce count sent with one nonce: nc is eight hex digits (RFC
// 7616 section 3.4) and some parsers read it as a signed 32-bit number. The cached challenge is
// dropped before it is reached, so the registrar issues a fresh nonce.
const maxNonceCount = 1<<31 - 1

// reusableChallenge returns the digest challenge of a 401 or 407 in the form kept for
// pre-emptive credentials, or nil when it is not reused: no parsable Digest challenge, an
// algorithm icholy/digest does not compute (the -sess variants among others), or a qop offer
// without "auth" (auth-int and unknown protections are answered per challenge only). The
// algorithm is upper-cased as sipgo does when it answers the same challenge, so the cached
// credentials look exactly like the ones the registrar accepted.
func reusableChallenge(res *sipmsg.Response) *regAuth {
	chal := challengeOf(res)
	if chal == nil || chal.Nonce == "" {
		return nil
	}
	c := *chal
	c.Stale = false
	c.Algorithm = strings.ToUpper(strings.TrimSpace(c.Algorithm))
	c.QOP = nil
	for _, q := range chal.QOP {
		if q = strings.TrimSpace(q); q != "" {
			c.QOP = append(c.QOP, q)
		}
	}
	if !digest.CanDigest(&c) || (len(c.QOP) > 0 && !c.SupportsQOP("auth")) {
		return nil
	}
	return &regAuth{chal: c, proxy: res.StatusCode == 407}
}

// remember keeps the challenge res (a 401 or 407) that was just answered with nonce count 1
// and accepted, for the next REGISTERs of this registration; an unusable challenge clears the
// cache.
func (r *registration) remember(res *sipmsg.Response) {
	a := reusableChallenge(res)
	if a != nil {
		a.nc = 1
	}
	r.mu.Lock()
	r.auth = a
	r.mu.Unlock()
}

// forgetAuth drops the cached challenge, so the next REGISTER goes without credentials.
func (r *registration) forgetAuth() {
	r.mu.Lock()
	r.auth = nil
	r.mu.Unlock()
}

// authorize adds credentials computed from the cached challenge to req, a REGISTER made by
// build, and reports whether it did: in Authorization, or Proxy-Authorization when the
// challenge came in a 407 (RFC 3261 sections 22.2 and 22.3). Each call takes the next nonce
// count and a fresh cnonce (RFC 7616 section 3.4). The digest-uri is the Request-URI in the form
// sipgo put in the credentials the registrar accepted. Without a cached challenge, username or
// password it adds nothing.
func (r *registration) authorize(req *sipmsg.Request) bool {
	if r.t.Username == "" || r.t.Password == "" {
		return false
	}
	r.mu.Lock()
	a := r.auth
	if a == nil || a.nc >= maxNonceCount {
		r.auth = nil
		r.mu.Unlock()
		return false
	}
	a.nc++
	chal, nc, proxy := a.chal, a.nc, a.proxy
	r.mu.Unlock()

	cred, err := digest.Digest(&chal, digest.Options{
		Method:   req.Method.String(),
		URI:      req.Recipient.Addr(),
		Username: r.t.Username,
		Password: r.t.Password,
		Count:    nc,
		Cnonce:   newID(),
	})
	if err != nil {
		r.forgetAuth()
		return false
	}
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	req.AppendHeader(sipmsg.NewHeader(name, cred.String()))
	return true
}

// dropCredentials removes the pre-emptive credentials authorize added, before the request is
// sent again in answer to a fresh challenge.
func dropCredentials(req *sipmsg.Request) {
	req.RemoveHeader("Authorization")
	req.RemoveHeader("Proxy-Authorization")
}
