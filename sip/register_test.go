package sip

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// registrar is an in-process sipgo registrar that challenges every REGISTER without
// credentials and answers authorised ones from a script of status codes.
type registrar struct {
	addr   *net.UDPAddr
	mu     sync.Mutex
	script []int // status for the n-th authorised REGISTER; 200 after the end
	authed int
	log    []registerSeen
}

type registerSeen struct {
	at      time.Time
	callID  string
	cseq    uint32
	expires string
	auth    string
	contact string
	status  int
}

func startRegistrar(t *testing.T, script ...int) *registrar {
	t.Helper()
	r := &registrar{script: script}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r.addr = conn.LocalAddr().(*net.UDPAddr)
	serveRegister(t, conn, r.handle)
	return r
}

// serveRegister runs a sipgo server on conn that passes every REGISTER to handle (its transaction
// layer absorbs retransmissions) until the end of the test, which closes conn.
func serveRegister(t *testing.T, conn *net.UDPConn, handle sipgo.RequestHandler) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(testLogger(t))),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(testLogger(t))))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(handle)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		ua.Close()
		<-done
	})
}

func (r *registrar) handle(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	seen := registerSeen{at: time.Now(), callID: req.CallID().Value(), cseq: req.CSeq().SeqNo,
		expires: headerValue(req, "Expires"), auth: headerValue(req, "Authorization"), contact: headerValue(req, "Contact")}
	var res *sipmsg.Response
	r.mu.Lock()
	switch {
	case seen.auth == "":
		res = sipmsg.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		chal := digest.Challenge{Realm: "reg.test", Nonce: "nonce" + itoa(len(r.log)), Algorithm: "MD5"}
		res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", chal.String()))
	case seen.expires == "0":
		res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	default:
		code := 200
		if r.authed < len(r.script) {
			code = r.script[r.authed]
		}
		r.authed++
		switch code {
		case 200:
			res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(sipmsg.NewHeader("Contact", req.Contact().Value()+";expires=2"))
		case 503:
			res = sipmsg.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
			res.AppendHeader(sipmsg.NewHeader("Retry-After", "1"))
		default:
			res = sipmsg.NewResponseFromRequest(req, code, "Scripted", nil)
		}
	}
	seen.status = res.StatusCode
	r.log = append(r.log, seen)
	r.mu.Unlock()
	_ = tx.Respond(res)
}

// lastAccepted returns the last authorised REGISTER the registrar answered 200.
func lastAccepted(t *testing.T, seen []registerSeen) registerSeen {
	t.Helper()
	for i := len(seen) - 1; i >= 0; i-- {
		if seen[i].auth != "" && seen[i].status == 200 {
			return seen[i]
		}
	}
	t.Fatalf("no REGISTER accepted: %+v", seen)
	return registerSeen{}
}

func (r *registrar) seen() []registerSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]registerSeen(nil), r.log...)
}

// TestRegisterRefreshAndRetry: REGISTER with digest auth, refresh before the 2 s expiry, a 503
// with Retry-After honoured, re-registration, and removal (Expires: 0) at shutdown.
func TestRegisterRefreshAndRetry(t *testing.T) {
	reg := startRegistrar(t, 200, 503, 200)
	env := startUA(t, Config{
		RegisterRetryMin: 100 * time.Millisecond,
		RegisterRetryMax: 400 * time.Millisecond,
		Trunks: []Trunk{{
			Name: "registrar", Host: "127.0.0.1", Port: reg.addr.Port,
			Register: true, RegisterExpiry: 60 * time.Second,
			Username: "alice", Password: "secret", Realm: "reg.test",
		}},
	})

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; registrar saw %+v; state %+v", what, reg.seen(), env.ua.RegistrationStates())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	authed := func(status int) int {
		n := 0
		for _, s := range reg.seen() {
			if s.auth != "" && s.status == status {
				n++
			}
		}
		return n
	}
	waitFor("first registration", func() bool { return env.ua.Ready() })
	st := env.ua.RegistrationStates()
	if len(st) != 1 || st[0].Status != RegRegistered || st[0].Trunk != "registrar" {
		t.Fatalf("states %+v, want one registered trunk", st)
	}
	// Measured from the registrar's answer, not from now: a busy machine may look late.
	if d := st[0].Expires.Sub(lastAccepted(t, reg.seen()).at); d < 2*time.Second || d > 3*time.Second {
		t.Errorf("registration expires %v after the registrar's 200, want the granted 2 s", d)
	}
	waitFor("503 on the refresh", func() bool { return authed(503) == 1 })
	waitFor("re-registration", func() bool { return authed(200) == 2 && env.ua.Ready() })
	st = env.ua.RegistrationStates()
	if st[0].Failures != 0 || st[0].LastCode != 200 {
		t.Errorf("state after re-registration %+v, want no failures and code 200", st[0])
	}

	env.shutdown()
	seen := reg.seen()
	last := seen[len(seen)-1]
	if last.expires != "0" || last.status != 200 || last.auth == "" {
		t.Errorf("last REGISTER %+v, want an authorised Expires: 0 at shutdown", last)
	}
	var failedAt, retriedAt time.Time
	for i, s := range seen {
		if s.callID != seen[0].callID {
			t.Errorf("REGISTER %d has Call-ID %q, want the same %q throughout (RFC 3261 section 10.2)", i, s.callID, seen[0].callID)
		}
		if i > 0 && s.cseq <= seen[i-1].cseq {
			t.Errorf("REGISTER %d CSeq %d not above the previous %d", i, s.cseq, seen[i-1].cseq)
		}
		if s.auth != "" && !strings.Contains(s.auth, `username="alice"`) {
			t.Errorf("Authorization %q lacks the username", s.auth)
		}
		if s.status == 503 {
			failedAt = s.at
		} else if !failedAt.IsZero() && retriedAt.IsZero() {
			retriedAt = s.at
		}
	}
	if gap := retriedAt.Sub(failedAt); gap < 900*time.Millisecond {
		t.Errorf("retried %v after the 503, want Retry-After's 1 s", gap)
	}
	if env.ua.Ready() {
		t.Error("Ready() true after shutdown")
	}
}

// TestRegisterFailureNotReady: a registrar that refuses (403) leaves the trunk failed and the UA not ready.
func TestRegisterFailureNotReady(t *testing.T) {
	reg := startRegistrar(t, 403, 403, 403, 403, 403, 403, 403, 403)
	env := startUA(t, Config{
		RegisterRetryMin: 100 * time.Millisecond,
		RegisterRetryMax: 200 * time.Millisecond,
		Trunks: []Trunk{{Name: "registrar", Host: "127.0.0.1", Port: reg.addr.Port, Register: true,
			Username: "alice", Password: "secret"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		st := env.ua.RegistrationStates()[0]
		if st.Failures >= 2 {
			if st.Status != RegFailed || st.LastCode != 403 || env.ua.Ready() {
				t.Errorf("state %+v ready %v, want failed with 403 and not ready", st, env.ua.Ready())
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no repeated failures: %+v", st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
