package sip

import (
	"fmt"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// challengeState enforces the digest policy of one INVITE transaction chain (the initial INVITE
// or a re-INVITE): credentials go only to the configured realm, and only one challenge is
// answered unless a later one marks the nonce stale (RFC 2617 section 3.2.1).
type challengeState struct {
	trunk    *trunk
	answered int
	nonce    string
}

// check decides whether the 401 or 407 res may be answered; ErrAuthFailed wrapping the
// *StatusError when not.
func (a *challengeState) check(res *sipmsg.Response) error {
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	fail := func(why string) error {
		return fmt.Errorf("%w: %s: %w", ErrAuthFailed, why, statusErrorFrom(res))
	}
	h := res.GetHeader(name)
	if h == nil {
		return fail("no " + name + " header")
	}
	if a.trunk.Password == "" {
		return fail("no credentials configured")
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return fail("unparsable challenge")
	}
	if a.trunk.Realm != "" && chal.Realm != a.trunk.Realm {
		return fail(fmt.Sprintf("realm %q is not the configured one", chal.Realm))
	}
	if a.answered > 0 && (!chal.Stale || chal.Nonce == a.nonce) {
		return fail("credentials rejected")
	}
	a.answered++
	a.nonce = chal.Nonce
	return nil
}

// credentials answers the challenge of a 401 or 407 to req (RFC 2617 section 3.2.2): an
// Authorization or Proxy-Authorization header with the trunk's credentials.
func (a *challengeState) credentials(req *sipmsg.Request, res *sipmsg.Response) (sipmsg.Header, error) {
	challenge, answer := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		challenge, answer = "Proxy-Authenticate", "Proxy-Authorization"
	}
	chal, err := digest.ParseChallenge(headerValue(res, challenge))
	if err != nil {
		return nil, err
	}
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.Addr(),
		Username: a.trunk.Username,
		Password: a.trunk.Password,
	})
	if err != nil {
		return nil, err
	}
	return sipmsg.NewHeader(answer, cred.String()), nil
}
