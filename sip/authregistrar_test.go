package sip

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authPolicy is how an authRegistrar treats credentials.
type authPolicy struct {
	user, password string
	// proxy challenges with 407 Proxy-Authenticate instead of 401 WWW-Authenticate.
	proxy bool
	// proxyLater challenges with 401 until the first accepted REGISTER, then with 407, as when a
	// proxy starts guarding the registrar.
	proxyLater bool
	// qop is the challenge's qop offer ("auth", "auth-int", "auth,auth-int"); "" offers none (RFC 2069 style).
	qop string
	// algorithm is the challenge's algorithm parameter; "" leaves it out.
	algorithm string
	// nonceUses is how many requests one nonce authorises; a further use gets a challenge with
	// stale=true and a fresh nonce. 0 = unlimited.
	nonceUses int
	// refuse, when 401 or 403, answers every valid credentials after the first accepted REGISTER
	// with that status (401 not stale, with a fresh nonce): the account was disabled.
	refuse int
	// grant is the lifetime in seconds granted in the 200's Contact.
	grant int
	// minExpires, when set, answers an authorised REGISTER asking for less (but not 0) with 423
	// Interval Too Brief and this Min-Expires (RFC 3261 section 10.3 step 7).
	minExpires int
}

// authRegistrar is an in-process sipgo registrar that challenges, verifies digest credentials
// itself (RFC 2617 section 3.2.2 with MD5, computed here independently of the client's library)
// and records every REGISTER it receives.
type authRegistrar struct {
	pol  authPolicy
	addr *net.UDPAddr

	mu       sync.Mutex
	nonces   int            // nonces issued so far
	uses     map[string]int // requests accepted per nonce
	lastNC   map[string]int // highest nc seen per nonce
	cnonces  map[string]bool
	accepted int
	log      []authSeen
}

// authSeen is one REGISTER as the registrar saw it.
type authSeen struct {
	callID  string
	cseq    uint32
	expires string
	header  string // "Authorization", "Proxy-Authorization" or "" for none
	both    bool   // both credential headers present
	nc      int
	qop     string
	valid   bool   // the digest verified against the issued nonce, URI, user and password
	problem string // why the credentials were invalid, or a protocol violation (nc replay, cnonce reuse)
	status  int
	stale   bool
}

// token renders s compactly for a trace: credential header (- none, A Authorization, P
// Proxy-Authorization), nc when a qop was used, a "x" for invalid credentials, then the status
// and "s" for a stale challenge; for example "-:401", "A2:200", "P1:407s".
func (s authSeen) token() string {
	var b strings.Builder
	switch s.header {
	case "":
		b.WriteString("-")
	case "Proxy-Authorization":
		b.WriteString("P")
	default:
		b.WriteString("A")
	}
	if s.header != "" && s.qop != "" {
		b.WriteString(strconv.Itoa(s.nc))
	}
	if s.header != "" && !s.valid {
		b.WriteString("x")
	}
	b.WriteString(":" + strconv.Itoa(s.status))
	if s.stale {
		b.WriteString("s")
	}
	return b.String()
}

// listenRegistrar binds the registrar's socket before the UA starts, so that the trunk can name
// its port; serveRegistrar must be called after startUA, so that its cleanup (LIFO) stops the
// registrar before the UA's leak check runs.
func listenRegistrar(t *testing.T) *net.UDPConn {
	t.Helper()
	return newPeer(t)
}

func serveRegistrar(t *testing.T, conn *net.UDPConn, pol authPolicy) *authRegistrar {
	t.Helper()
	r := &authRegistrar{pol: pol, addr: conn.LocalAddr().(*net.UDPAddr),
		uses: map[string]int{}, lastNC: map[string]int{}, cnonces: map[string]bool{}}
	serveRegister(t, conn, r.handle)
	return r
}

// headers returns the challenge and credentials header names and the challenge status; the
// caller holds r.mu.
func (r *authRegistrar) headers() (challenge, credentials string, code int, reason string) {
	if r.pol.proxy || (r.pol.proxyLater && r.accepted > 0) {
		return "Proxy-Authenticate", "Proxy-Authorization", 407, "Proxy Authentication Required"
	}
	return "WWW-Authenticate", "Authorization", 401, "Unauthorized"
}

// challenge makes a 401/407 with a fresh nonce; the caller holds r.mu.
func (r *authRegistrar) challenge(req *sipmsg.Request, stale bool) *sipmsg.Response {
	chName, _, code, reason := r.headers()
	r.nonces++
	chal := digest.Challenge{Realm: "auth.test", Nonce: fmt.Sprintf("n%04d", r.nonces), Opaque: "op4que",
		Algorithm: r.pol.algorithm, Stale: stale}
	if r.pol.qop != "" {
		chal.QOP = strings.Split(r.pol.qop, ",")
	}
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sipmsg.NewHeader(chName, chal.String()))
	return res
}

func (r *authRegistrar) handle(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	r.mu.Lock()
	_, credName, _, _ := r.headers()
	seen := authSeen{callID: req.CallID().Value(), cseq: req.CSeq().SeqNo, expires: headerValue(req, "Expires"),
		both: req.GetHeader("Authorization") != nil && req.GetHeader("Proxy-Authorization") != nil}
	raw := headerValue(req, credName)
	for _, other := range []string{"Authorization", "Proxy-Authorization"} {
		if raw == "" && other != credName && req.GetHeader(other) != nil {
			seen.header = other // credentials in the wrong header: invalid, challenged again
		}
	}
	var res *sipmsg.Response
	switch raw {
	case "":
		res = r.challenge(req, false)
	default:
		seen.header = credName
		cred, err := digest.ParseCredentials(raw)
		if err != nil {
			seen.problem = err.Error()
			res = sipmsg.NewResponseFromRequest(req, 400, "Bad Credentials", nil)
			break
		}
		seen.nc, seen.qop = cred.Nc, cred.QOP
		seen.problem = r.verify(req, raw, cred)
		seen.valid = seen.problem == ""
		switch {
		case !seen.valid:
			res = r.challenge(req, false)
		case r.pol.nonceUses > 0 && r.uses[cred.Nonce] >= r.pol.nonceUses:
			res = r.challenge(req, true)
		case r.pol.refuse == 403 && r.accepted > 0:
			res = sipmsg.NewResponseFromRequest(req, 403, "Forbidden", nil)
		case r.pol.refuse == 401 && r.accepted > 0:
			res = r.challenge(req, false)
		case r.pol.minExpires > 0 && seen.expires != "0" && atoi(seen.expires) < r.pol.minExpires:
			r.uses[cred.Nonce]++
			res = sipmsg.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sipmsg.NewHeader("Min-Expires", strconv.Itoa(r.pol.minExpires)))
		default:
			r.uses[cred.Nonce]++
			r.accepted++
			res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
			if seen.expires != "0" {
				res.AppendHeader(sipmsg.NewHeader("Contact", req.Contact().Value()+";expires="+strconv.Itoa(r.pol.grant)))
			}
		}
		if cred.QOP != "" {
			r.lastNC[cred.Nonce] = max(r.lastNC[cred.Nonce], cred.Nc)
			r.cnonces[cred.Cnonce] = true
		}
	}
	seen.status = res.StatusCode
	seen.stale = challengeOf(res) != nil && challengeOf(res).Stale
	r.log = append(r.log, seen)
	r.mu.Unlock()
	_ = tx.Respond(res)
}

// verify checks credentials as a registrar does (RFC 2617 section 3.2.2, RFC 3261 section
// 22.4) and returns "" when they are good, else the reason; the caller holds r.mu.
func (r *authRegistrar) verify(req *sipmsg.Request, raw string, c *digest.Credentials) string {
	n, err := strconv.Atoi(strings.TrimPrefix(c.Nonce, "n"))
	switch {
	case err != nil || n < 1 || n > r.nonces:
		return "nonce never issued"
	case c.Username != r.pol.user || c.Realm != "auth.test" || c.Opaque != "op4que":
		return "wrong username, realm or opaque"
	case c.URI != req.Recipient.String():
		return fmt.Sprintf("digest-uri %q is not the Request-URI %q", c.URI, req.Recipient.String())
	case !strings.EqualFold(c.Algorithm, r.pol.algorithm):
		return fmt.Sprintf("algorithm %q, challenged with %q", c.Algorithm, r.pol.algorithm)
	}
	if c.QOP != "" {
		switch {
		case !strings.Contains(","+r.pol.qop+",", ","+c.QOP+","):
			return fmt.Sprintf("qop %q not offered", c.QOP)
		case !strings.Contains(raw, fmt.Sprintf("nc=%08x", c.Nc)):
			return "nc is not eight hex digits"
		case c.Nc <= r.lastNC[c.Nonce]:
			return fmt.Sprintf("nc %d replays %d", c.Nc, r.lastNC[c.Nonce])
		case c.Cnonce == "" || r.cnonces[c.Cnonce]:
			return "cnonce missing or reused"
		}
	}
	want := md5Digest(r.pol.user, "auth.test", r.pol.password, req.Method.String(), c.URI, c.Nonce,
		fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, req.Body())
	if c.Response != want {
		return "response does not match"
	}
	return ""
}

// md5Digest computes the request-digest of RFC 2617 section 3.2.2.1 with MD5: without qop
// (RFC 2069), with qop=auth, or with qop=auth-int over body.
func md5Digest(user, realm, password, method, uri, nonce, nc, cnonce, qop string, body []byte) string {
	h := func(s string) string {
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ha1 := h(user + ":" + realm + ":" + password)
	ha2 := h(method + ":" + uri)
	if qop == "auth-int" {
		ha2 = h(method + ":" + uri + ":" + h(string(body)))
	}
	if qop == "" {
		return h(ha1 + ":" + nonce + ":" + ha2)
	}
	return h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (r *authRegistrar) seen() []authSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]authSeen(nil), r.log...)
}

// trace renders REGISTERs as space-separated tokens, see authSeen.token.
func trace(seen []authSeen) string {
	tokens := make([]string, len(seen))
	for i, s := range seen {
		tokens[i] = s.token()
	}
	return strings.Join(tokens, " ")
}

// checkDialogInvariants asserts RFC 3261 section 10.2: one Call-ID for all REGISTERs of a
// registration and a CSeq one higher for each request, the authenticated resends included; and
// that no request carried both credential headers or invalid credentials.
func checkDialogInvariants(t *testing.T, seen []authSeen) {
	t.Helper()
	for i, s := range seen {
		if s.callID != seen[0].callID {
			t.Errorf("REGISTER %d has Call-ID %q, want %q throughout (RFC 3261 section 10.2)", i, s.callID, seen[0].callID)
		}
		if i > 0 && s.cseq != seen[i-1].cseq+1 {
			t.Errorf("REGISTER %d has CSeq %d after %d, want one more", i, s.cseq, seen[i-1].cseq)
		}
		if s.both {
			t.Errorf("REGISTER %d carries both Authorization and Proxy-Authorization", i)
		}
		if s.problem != "" {
			t.Errorf("REGISTER %d: registrar rejected the credentials: %s", i, s.problem)
		}
	}
}
