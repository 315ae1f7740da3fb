package sip

import (
	"crypto/subtle"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// InboundSelect tells apart the INVITEs of trunks that share a source address, and admits a
// trunk's INVITEs from any address by digest authentication (Trunk.Inbound).
type InboundSelect struct {
	// RequestHost selects INVITEs whose Request-URI host is this (case-insensitive); "" = any.
	RequestHost string
	// RequestUser selects INVITEs whose Request-URI user part starts with this; "" = any.
	RequestUser string
	// Header and HeaderValue select INVITEs carrying header Header with exactly this value
	// (spaces trimmed); "" = any.
	Header, HeaderValue string
	// DigestUser and DigestPassword, when set, admit INVITEs from any address whose
	// Authorization answers our 401 challenge (RFC 3261 section 22.2) with these credentials;
	// DigestRealm is the challenge's realm ("" = the user agent's PublicHost).
	DigestUser, DigestPassword, DigestRealm string
}

// hasSelector reports whether any selector is set.
func (s InboundSelect) hasSelector() bool {
	return s.RequestHost != "" || s.RequestUser != "" || s.Header != ""
}

// selects reports whether req satisfies every selector that is set.
func (s InboundSelect) selects(req *sipmsg.Request) bool {
	if s.RequestHost != "" && !strings.EqualFold(req.Recipient.Host, s.RequestHost) {
		return false
	}
	if s.RequestUser != "" && !strings.HasPrefix(req.Recipient.User, s.RequestUser) {
		return false
	}
	if s.Header != "" && headerValue(req, s.Header) != s.HeaderValue {
		return false
	}
	return true
}

// inboundTrunk picks the trunk of an out-of-dialog INVITE: among the trunks whose
// AllowedSources contain its source, the first (in configuration order) whose selectors are set
// and all match, else the first without selectors; when no trunk allows the source, a trunk
// with digest credentials that the INVITE authenticates for. Otherwise it answers and returns
// nil: 403 when trunks allow the source but none selects the INVITE, the digest exchange (401
// challenge, 401 with stale=true for an expired nonce, 403 for wrong credentials, RFC 3261
// section 22.2 and 22.4; 503 beyond the per-source INVITE rate, checked first) when digest
// trunks exist, else the unknown-source policy. digest is
// true when the trunk was chosen by authentication (the call then trusts the INVITE's source
// address for its dialog).
func (ua *UA) inboundTrunk(req *sipmsg.Request, tx sipmsg.ServerTransaction) (t *trunk, digest bool) {
	src := sourceAddr(req)
	var fallback *trunk
	allowed := false
	for _, c := range ua.trunkList() {
		if !c.allows(src) {
			continue
		}
		allowed = true
		switch {
		case c.Inbound.hasSelector() && c.Inbound.selects(req):
			return c, false
		case !c.Inbound.hasSelector() && fallback == nil:
			fallback = c
		}
	}
	if fallback != nil {
		return fallback, false
	}
	if allowed {
		ua.counters.unknownSource.Add(1)
		ua.refusals.refused(src, "sip INVITE selected by no trunk sharing its source", "source", req.Source(),
			"request_uri", req.Recipient.String())
		ua.respond(tx, req, 403, "Forbidden")
		return nil, false
	}
	if !ua.hasDigestTrunk() {
		ua.refuseUnknown(req, tx, src)
		return nil, false
	}
	// Any address may try digest credentials: each try costs a response and a hash, so the
	// per-source INVITE rate applies before the exchange, not after it.
	if ua.overInviteRate(req, tx) {
		return nil, false
	}
	return ua.authenticateInvite(req, tx), true
}

// hasDigestTrunk reports whether any trunk admits INVITEs by digest authentication.
func (ua *UA) hasDigestTrunk() bool {
	for _, t := range ua.trunkList() {
		if t.Inbound.DigestUser != "" {
			return true
		}
	}
	return false
}

// digestRealm is the realm of trunk t's challenges.
func (ua *UA) digestRealm(t *trunk) string {
	if t.Inbound.DigestRealm != "" {
		return t.Inbound.DigestRealm
	}
	return ua.cfg.PublicHost
}

// authenticateInvite runs the digest exchange of an INVITE from an address no trunk allows: the
// trunk whose credentials its Authorization header carries, or nil after answering 401 (no or
// stale credentials, with one challenge per realm of the digest trunks) or 403 (credentials
// for no trunk, or a wrong response).
func (ua *UA) authenticateInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) *trunk {
	h := req.GetHeader("Authorization")
	if h == nil {
		ua.challenge(req, tx, false)
		return nil
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		ua.refuseAuth(req, tx, "unreadable Authorization header")
		return nil
	}
	var t *trunk
	for _, c := range ua.trunkList() {
		if c.Inbound.DigestUser != "" && c.Inbound.DigestUser == cred.Username && ua.digestRealm(c) == cred.Realm {
			t = c
			break
		}
	}
	if t == nil {
		ua.refuseAuth(req, tx, "credentials of no trunk")
		return nil
	}
	if !ua.nonces.Valid(cred.Nonce, time.Now()) {
		ua.challenge(req, tx, true)
		return nil
	}
	chal := &digest.Challenge{Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}}
	if cred.QOP == "" {
		chal.QOP = nil
	}
	if !strings.EqualFold(cred.Algorithm, "MD5") && cred.Algorithm != "" {
		ua.refuseAuth(req, tx, "unsupported digest algorithm")
		return nil
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: cred.URI, Username: t.Inbound.DigestUser, Password: t.Inbound.DigestPassword,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) != 1 {
		ua.refuseAuth(req, tx, "wrong digest response")
		return nil
	}
	return t
}

// challenge answers 401 Unauthorized with a fresh nonce for every realm of the digest trunks
// (RFC 3261 section 22.2), marked stale when the request's nonce had expired (RFC 2617
// section 3.2.1).
func (ua *UA) challenge(req *sipmsg.Request, tx sipmsg.ServerTransaction, stale bool) {
	nonce := ua.nonces.New(time.Now())
	seen := map[string]bool{}
	var hs []sipmsg.Header
	for _, t := range ua.trunkList() {
		realm := ua.digestRealm(t)
		if t.Inbound.DigestUser == "" || seen[realm] {
			continue
		}
		seen[realm] = true
		v := `Digest realm="` + realm + `", nonce="` + nonce + `", algorithm=MD5, qop="auth"`
		if stale {
			v += ", stale=true"
		}
		hs = append(hs, sipmsg.NewHeader("WWW-Authenticate", v))
	}
	ua.respond(tx, req, 401, "Unauthorized", hs...)
}

// refuseAuth answers 403 Forbidden to an INVITE whose credentials are not accepted (RFC 3261
// section 22.2 leaves a second challenge or a refusal to the UAS; a wrong password does not
// become right by asking again), counting and logging it like a request from an unknown source.
func (ua *UA) refuseAuth(req *sipmsg.Request, tx sipmsg.ServerTransaction, why string) {
	ua.counters.unknownSource.Add(1)
	ua.refusals.refused(sourceAddr(req), "sip INVITE refused: "+why, "source", req.Source())
	ua.respond(tx, req, 403, "Forbidden")
}
