package sip

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/logcapture"
)

const testPassword = "s3cr3t-Pw"

// manualRegistration serves a UA with one trunk pointing at a registrar with policy pol, without
// registering by itself, and returns a registration of that trunk for the test to drive with
// exchange, one REGISTER transaction chain at a time.
func manualRegistration(t *testing.T, pol authPolicy) (*registration, *authRegistrar) {
	t.Helper()
	conn := listenRegistrar(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "reg", Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port,
		Username: pol.user, Password: pol.password, Realm: "auth.test"}}})
	reg := serveRegistrar(t, conn, pol)
	return newRegistration(env.ua, env.ua.trunkByName("reg")), reg
}

// TestRegisterPreemptiveCredentials drives REGISTER exchanges of one registration against
// registrars with different digest policies and checks, request by request, when credentials
// are sent pre-emptively (RFC 3261 section 22.3), with which nonce count, and how refusals fall
// back to the challenge flow without looping.
func TestRegisterPreemptiveCredentials(t *testing.T) {
	type step struct {
		expiry  time.Duration // 0 = un-REGISTER
		wantErr int           // 0 = success, else ErrAuthFailed wrapping a StatusError with this code
		trace   string        // REGISTERs of this exchange, see authSeen.token
	}
	const minute = time.Minute
	base := authPolicy{user: "alice", password: testPassword, qop: "auth", algorithm: "MD5", grant: 60}
	with := func(f func(*authPolicy)) authPolicy {
		p := base
		f(&p)
		return p
	}
	cases := []struct {
		name  string
		pol   authPolicy
		steps []step
	}{
		{"401 qop=auth, nonce kept: one challenge, then nc counts up", base, []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "A2:200"}, {minute, 0, "A3:200"}, {0, 0, "A4:200"}}},
		{"407 qop=auth: Proxy-Authorization", with(func(p *authPolicy) { p.proxy = true }), []step{
			{minute, 0, "-:407 P1:200"}, {minute, 0, "P2:200"}, {0, 0, "P3:200"}}},
		{"no qop (RFC 2069): nonce reused without nc", with(func(p *authPolicy) { p.qop, p.algorithm = "", "" }), []step{
			{minute, 0, "-:401 A:200"}, {minute, 0, "A:200"}, {0, 0, "A:200"}}},
		{"qop auth and auth-int offered: auth reused", with(func(p *authPolicy) { p.qop = "auth-int,auth" }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "A2:200"}}},
		{"nonce good for two requests: stale answered once", with(func(p *authPolicy) { p.nonceUses = 2 }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "A2:200"}, {minute, 0, "A3:401s A1:200"}, {minute, 0, "A2:200"}, {0, 0, "A3:401s A1:200"}}},
		{"nonce rotates on every request: fallback, no loop", with(func(p *authPolicy) { p.nonceUses = 1 }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "A2:401s A1:200"}, {minute, 0, "A2:401s A1:200"}, {0, 0, "A2:401s A1:200"}}},
		{"407 nonce rotates", with(func(p *authPolicy) { p.proxy, p.nonceUses = true, 1 }), []step{
			{minute, 0, "-:407 P1:200"}, {minute, 0, "P2:407s P1:200"}}},
		{"407 after a 401: only Proxy-Authorization on the resend", with(func(p *authPolicy) { p.proxyLater = true }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "Ax:407 P1:200"}, {minute, 0, "P2:200"}}},
		{"auth-int only: not pre-authenticated", with(func(p *authPolicy) { p.qop = "auth-int" }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 0, "-:401 A1:200"}, {0, 0, "-:401 A1:200"}}},
		{"423 after the challenge: the retry carries credentials", with(func(p *authPolicy) { p.minExpires = 120 }), []step{
			{minute, 0, "-:401 A1:423 A2:200"}, {2 * minute, 0, "A3:200"}}},
		{"403 to cached credentials: auth failed, cache forgotten", with(func(p *authPolicy) { p.refuse = 403 }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 403, "A2:403"}, {minute, 403, "-:401 A1:403"}}},
		{"401 not stale to cached credentials and to the answer: auth failed", with(func(p *authPolicy) { p.refuse = 401 }), []step{
			{minute, 0, "-:401 A1:200"}, {minute, 401, "A2:401 A1:401"}, {minute, 401, "-:401 A1:401"}}},
		{"no password: challenge not answered, nothing cached", with(func(p *authPolicy) { p.password = "" }), []step{
			{minute, 401, "-:401"}, {minute, 401, "-:401"}}},
		{"407 refused", with(func(p *authPolicy) { p.proxy, p.refuse = true, 401 }), []step{
			{minute, 0, "-:407 P1:200"}, {minute, 407, "P2:407 P1:407"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, reg := manualRegistration(t, tc.pol)
			for i, s := range tc.steps {
				before := len(reg.seen())
				granted, err := r.exchange(s.expiry)
				got := trace(reg.seen()[before:])
				if got != s.trace {
					t.Errorf("exchange %d: registrar saw %q, want %q", i, got, s.trace)
				}
				if s.wantErr == 0 {
					if err != nil {
						t.Errorf("exchange %d: %v", i, err)
					} else if s.expiry != 0 && granted != time.Duration(tc.pol.grant)*time.Second {
						t.Errorf("exchange %d: granted %v, want %d s", i, granted, tc.pol.grant)
					}
					continue
				}
				var se *StatusError
				if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &se) || se.Code != s.wantErr {
					t.Errorf("exchange %d: error %v, want ErrAuthFailed with status %d", i, err, s.wantErr)
				}
			}
			checkDialogInvariants(t, reg.seen())
		})
	}
}

// TestRegisterRefreshesCarryCredentials runs a registering trunk with a 2 s binding, so that it
// refreshes every second, until three refreshes were accepted, then shuts down. With a nonce
// the registrar keeps valid, only the first REGISTER is challenged: every refresh and the final
// un-REGISTER carry verified credentials with nc counting up. With a nonce good for one request,
// each refresh falls back to one challenge and the trunk stays registered.
func TestRegisterRefreshesCarryCredentials(t *testing.T) {
	cases := []struct {
		name      string
		nonceUses int
		want      func(accepted int) string // trace of the whole run given the accepted REGISTERs
	}{
		{"nonce kept", 0, func(n int) string {
			tokens := []string{"-:401"}
			for i := 1; i <= n; i++ {
				tokens = append(tokens, "A"+strconv.Itoa(i)+":200")
			}
			return strings.Join(tokens, " ")
		}},
		{"nonce rotates", 1, func(n int) string {
			return "-:401 A1:200" + strings.Repeat(" A2:401s A1:200", n-1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := listenRegistrar(t)
			logger, logs := logcapture.New(t)
			env := startUA(t, Config{
				Logger:           logger,
				RegisterRetryMin: 100 * time.Millisecond,
				RegisterRetryMax: 400 * time.Millisecond,
				Trunks: []Trunk{{Name: "registrar", Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port,
					Register: true, RegisterExpiry: 60 * time.Second,
					Username: "alice", Password: testPassword, Realm: "auth.test"}},
			})
			reg := serveRegistrar(t, conn, authPolicy{user: "alice", password: testPassword, qop: "auth",
				algorithm: "MD5", grant: 2, nonceUses: tc.nonceUses})

			deadline := time.Now().Add(10 * time.Second)
			for accepted(reg.seen()) < 4 {
				if time.Now().After(deadline) {
					t.Fatalf("fewer than 3 refreshes in 10 s; registrar saw %q", trace(reg.seen()))
				}
				time.Sleep(20 * time.Millisecond)
			}
			st := env.ua.RegistrationStates()[0]
			if st.Status != RegRegistered || st.Failures != 0 || !env.ua.Ready() {
				t.Errorf("state %+v ready %v, want registered without failures", st, env.ua.Ready())
			}
			env.shutdown()

			seen := reg.seen()
			if got, want := trace(seen), tc.want(accepted(seen)); got != want {
				t.Errorf("registrar saw\n%q\nwant\n%q", got, want)
			}
			if last := seen[len(seen)-1]; last.expires != "0" || last.status != 200 || last.header == "" {
				t.Errorf("last REGISTER %+v, want an authorised Expires: 0 accepted at shutdown", last)
			}
			checkDialogInvariants(t, seen)
			if strings.Contains(logs.String(), testPassword) {
				t.Error("the password appears in the log")
			}
		})
	}
}

// accepted counts the REGISTERs the registrar accepted.
func accepted(seen []authSeen) int {
	n := 0
	for _, s := range seen {
		if s.status == 200 {
			n++
		}
	}
	return n
}

// TestReusableChallenge: which challenges are kept for pre-emptive credentials, in which header
// they are answered, and how the kept copy is normalised.
func TestReusableChallenge(t *testing.T) {
	cases := []struct {
		name      string
		code      int
		header    string
		value     string
		reusable  bool
		proxy     bool
		algorithm string
		qop       []string
	}{
		{"MD5 qop=auth", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=MD5, qop="auth"`, true, false, "MD5", []string{"auth"}},
		{"407 proxy", 407, "Proxy-Authenticate", `Digest realm="r", nonce="n", qop="auth"`, true, true, "", []string{"auth"}},
		{"lower-case algorithm normalised", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=md5`, true, false, "MD5", nil},
		{"SHA-256", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"`, true, false, "SHA-256", []string{"auth"}},
		{"qop list with spaces", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", qop="auth-int, auth"`, true, false, "", []string{"auth-int", "auth"}},
		{"stale flag not kept", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", stale=true, qop="auth"`, true, false, "", []string{"auth"}},
		{"auth-int only", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", qop="auth-int"`, false, false, "", nil},
		{"unknown qop", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", qop="auth-conf"`, false, false, "", nil},
		{"MD5-sess", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"`, false, false, "", nil},
		{"AKAv1-MD5", 401, "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=AKAv1-MD5`, false, false, "", nil},
		{"no nonce", 401, "WWW-Authenticate", `Digest realm="r", qop="auth"`, false, false, "", nil},
		{"Basic", 401, "WWW-Authenticate", `Basic realm="r"`, false, false, "", nil},
		{"challenge in the wrong header", 407, "WWW-Authenticate", `Digest realm="r", nonce="n"`, false, false, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := sipmsg.NewResponse(tc.code, "Challenge")
			res.AppendHeader(sipmsg.NewHeader(tc.header, tc.value))
			a := reusableChallenge(res)
			if (a != nil) != tc.reusable {
				t.Fatalf("reusable %v, want %v", a != nil, tc.reusable)
			}
			if a == nil {
				return
			}
			if a.proxy != tc.proxy || a.chal.Algorithm != tc.algorithm || a.chal.Stale || a.nc != 0 ||
				strings.Join(a.chal.QOP, "|") != strings.Join(tc.qop, "|") {
				t.Errorf("kept proxy=%v algorithm=%q qop=%q stale=%v nc=%d, want proxy=%v algorithm=%q qop=%q, not stale, nc 0",
					a.proxy, a.chal.Algorithm, a.chal.QOP, a.chal.Stale, a.nc, tc.proxy, tc.algorithm, tc.qop)
			}
		})
	}
}
