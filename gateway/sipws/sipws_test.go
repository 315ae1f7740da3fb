package sipws

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/sipwsclient"
)

const (
	testUser     = "alice"
	testPassword = "sip-secret-0123456"
	testAOR      = "sip:alice@webtrunk"
	testOffer    = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)

// fakeGateway is call control as the front door sees it: doors that
// record what they were sent.
type fakeGateway struct {
	opened chan struct{} // a door was opened

	mu    sync.Mutex
	doors []*fakeDoor
}

func (g *fakeGateway) SIPPassword(user string) (string, bool) {
	return testPassword, user == testUser
}

// testToken is the one bearer token fakeGateway takes.
const testToken = "token-of-alice"

func (g *fakeGateway) Token(_ netip.Addr, token string) (auth.Identity, error) {
	if token != testToken {
		return auth.Identity{}, auth.ErrInvalidToken
	}

	return auth.Identity{UserID: testUser}, nil
}

func (g *fakeGateway) Open(_ netip.Addr, id auth.Identity, out func(signaling.Message)) (Door, error) {
	if id.UserID != testUser {
		return nil, errors.New("unknown user") //nolint:err113 // a test double
	}
	d := &fakeDoor{out: out, sent: make(chan signaling.ClientMessage, 16), done: make(chan struct{}), closed: make(chan struct{})}
	g.mu.Lock()
	g.doors = append(g.doors, d)
	g.mu.Unlock()
	g.opened <- struct{}{}

	return d, nil
}

// door returns the n-th door opened, waiting for it.
func (g *fakeGateway) door(t *testing.T, n int) *fakeDoor {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		g.mu.Lock()
		opened := len(g.doors)
		if opened > n {
			d := g.doors[n]
			g.mu.Unlock()

			return d
		}
		g.mu.Unlock()
		select {
		case <-g.opened:
		case <-timeout:
			t.Fatalf("%d doors opened, want at least %d", opened, n+1)
		}
	}
}

type fakeDoor struct {
	out    func(signaling.Message)
	sent   chan signaling.ClientMessage
	done   chan struct{}
	closed chan struct{}

	mu      sync.Mutex
	ringing bool
	once    sync.Once
}

func (d *fakeDoor) Send(m signaling.ClientMessage) { d.sent <- m }
func (d *fakeDoor) Ring(on bool)                   { d.mu.Lock(); d.ringing = on; d.mu.Unlock() }
func (d *fakeDoor) Withdraw(string)                {}
func (d *fakeDoor) Done() <-chan struct{}          { return d.done }
func (d *fakeDoor) Close()                         { d.once.Do(func() { close(d.closed) }) }

func (d *fakeDoor) isRinging() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.ringing }

// next returns the next message the door was sent.
func (d *fakeDoor) next(t *testing.T) signaling.ClientMessage {
	t.Helper()
	select {
	case m := <-d.sent:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("the door was sent nothing")

		return nil
	}
}

// testServer serves the front door with cfg changed by edit.
func testServer(t *testing.T, edit func(*config.SIPWebSocketConfig)) (*fakeGateway, *Server, string) {
	t.Helper()
	cfg := config.SIPWebSocketDefault()
	cfg.Path = "/sip"
	if edit != nil {
		edit(&cfg)
	}
	gw := &fakeGateway{opened: make(chan struct{}, 16)}
	srv := New(cfg, gw, nil, nil)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	return gw, srv, "ws" + strings.TrimPrefix(hs.URL, "http") + "/sip"
}

// register registers the client's contact as alice with extra headers,
// answering the challenge with alg, and returns the final response.
func register(t *testing.T, c *sipwsclient.Client, alg, password string, extra ...string) *sipmsg.Response {
	t.Helper()
	req := sipwsclient.Request{Method: "REGISTER", URI: "sip:webtrunk", From: testAOR, CallID: "reg@" + c.Host, Headers: extra}
	c.Send(c.Build(req))
	res := c.Response()
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials: %d, want 401", res.StatusCode)
	}
	auth, err := sipwsclient.Authorization(res, alg, "REGISTER", "sip:webtrunk", testUser, password)
	if err != nil {
		t.Fatal(err)
	}
	req.Headers = append(req.Headers, auth)
	c.Send(c.Build(req))

	return c.Response()
}

// TestRegisterDigest: REGISTER is challenged with SHA-256 then MD5 (RFC
// 8760 order) with qop=auth; either answer registers, a wrong password is
// refused 403.
func TestRegisterDigest(t *testing.T) {
	for _, tc := range []struct {
		name, alg, password string
		want                int
	}{
		{"MD5", "MD5", testPassword, 200},
		{"SHA-256", "SHA-256", testPassword, 200},
		{"wrong password", "MD5", "not-the-password", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, _, url := testServer(t, nil)
			c := sipwsclient.Dial(t, url)
			res := register(t, c, tc.alg, tc.password)
			if res.StatusCode != tc.want {
				t.Fatalf("REGISTER: %d %s, want %d", res.StatusCode, res.Reason, tc.want)
			}
			if tc.want != 200 {
				return
			}
			ct := res.GetHeader("Contact")
			if ct == nil || !strings.Contains(ct.Value(), c.Host) || !strings.Contains(ct.Value(), "expires=3600") {
				t.Errorf("200 to REGISTER has Contact %v, want the client's with expires=3600", ct)
			}
			if d := gw.door(t, 0); !d.isRinging() {
				t.Error("a registered user's door does not ring")
			}
		})
	}
	t.Run("challenge order", func(t *testing.T) {
		_, _, url := testServer(t, nil)
		c := sipwsclient.Dial(t, url)
		c.Send(c.Build(sipwsclient.Request{Method: "REGISTER", URI: "sip:webtrunk", From: testAOR}))
		res := c.Response()
		hs := res.GetHeaders("WWW-Authenticate")
		if res.StatusCode != 401 || len(hs) != 2 || !strings.Contains(hs[0].Value(), "algorithm=SHA-256") ||
			!strings.Contains(hs[1].Value(), "algorithm=MD5") || !strings.Contains(hs[1].Value(), `qop="auth"`) {
			t.Errorf("challenge %d %v, want 401 with SHA-256 then MD5, qop auth", res.StatusCode, hs)
		}
	})
}

// TestRegisterExpiry: too short an Expires gets 423 with Min-Expires, too
// long one is shortened to max_expires, Contact "*" with Expires 0
// removes the bindings and the door stops ringing.
func TestRegisterExpiry(t *testing.T) {
	gw, srv, url := testServer(t, func(c *config.SIPWebSocketConfig) { c.MaxExpires = 2 * time.Minute })
	c := sipwsclient.Dial(t, url)
	if res := register(t, c, "MD5", testPassword, "Expires: 30"); res.StatusCode != 423 ||
		res.GetHeader("Min-Expires") == nil || res.GetHeader("Min-Expires").Value() != "60" {
		t.Errorf("Expires 30: %d, want 423 with Min-Expires 60", res.StatusCode)
	}
	res := register(t, c, "MD5", testPassword, "Expires: 86400")
	if ct := res.GetHeader("Contact"); res.StatusCode != 200 || ct == nil || !strings.Contains(ct.Value(), "expires=120") {
		t.Errorf("Expires 86400: %d with Contact %v, want 200 with expires=120", res.StatusCode, ct)
	}
	if n := testutil.ToFloat64(srv.metrics.Registrations); n != 1 {
		t.Errorf("registrations gauge %v, want 1", n)
	}
	req := sipwsclient.Request{Method: "REGISTER", URI: "sip:webtrunk", From: testAOR, Headers: []string{"Expires: 0"}}
	text := strings.Replace(c.Build(req), "Contact: <sip:c@"+c.Host+";transport=ws>", "Contact: *", 1)
	c.Send(text)
	res = c.Response()
	auth, err := sipwsclient.Authorization(res, "MD5", "REGISTER", "sip:webtrunk", testUser, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	req.Headers = append(req.Headers, auth)
	c.Send(strings.Replace(c.Build(req), "Contact: <sip:c@"+c.Host+";transport=ws>", "Contact: *", 1))
	if res := c.Response(); res.StatusCode != 200 || res.GetHeader("Contact") != nil {
		t.Errorf("Contact * Expires 0: %d, want 200 without contacts", res.StatusCode)
	}
	if gw.door(t, 0).isRinging() {
		t.Error("the door still rings without a binding")
	}
	if n := testutil.ToFloat64(srv.metrics.Registrations); n != 0 {
		t.Errorf("registrations gauge %v, want 0", n)
	}
}

// TestRegistrationLimit: a user's bindings are bounded over all
// connections; a closed WebSocket gives its binding back.
func TestRegistrationLimit(t *testing.T) {
	gw, srv, url := testServer(t, func(c *config.SIPWebSocketConfig) { c.MaxRegistrationsPerUser = 2 })
	a, b, c := sipwsclient.Dial(t, url), sipwsclient.Dial(t, url), sipwsclient.Dial(t, url)
	for i, cl := range []*sipwsclient.Client{a, b} {
		if res := register(t, cl, "MD5", testPassword); res.StatusCode != 200 {
			t.Fatalf("registration %d: %d, want 200", i, res.StatusCode)
		}
	}
	res := register(t, c, "MD5", testPassword)
	if w := res.GetHeader("Warning"); res.StatusCode != 403 || w == nil || !strings.Contains(w.Value(), "too many registrations") {
		t.Fatalf("third registration: %d %v, want 403 with a Warning", res.StatusCode, w)
	}
	_ = a.Close()
	select {
	case <-gw.door(t, 0).closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the closed connection's door was not closed")
	}
	// The connection's bindings went before its door closed.
	if n := testutil.ToFloat64(srv.metrics.Registrations); n != 1 {
		t.Errorf("registrations gauge %v after a close, want 1", n)
	}
	if res := register(t, c, "MD5", testPassword); res.StatusCode != 200 {
		t.Errorf("registration after a close: %d, want 200", res.StatusCode)
	}
}

// TestInvite: an INVITE is challenged 407; authenticated without SDP it
// gets 488 with a Warning; with SDP it becomes a dial of the Request-URI's
// number, and the gateway's refusal becomes 403 with a Warning.
func TestInvite(t *testing.T) {
	gw, _, url := testServer(t, nil)
	c := sipwsclient.Dial(t, url)
	inv := sipwsclient.Request{Method: "INVITE", URI: "sip:+15550123@webtrunk", From: testAOR}
	c.Send(c.Build(inv))
	res := c.Response()
	if res.StatusCode != 407 || res.GetHeader("Proxy-Authenticate") == nil {
		t.Fatalf("INVITE without credentials: %d, want 407 with Proxy-Authenticate", res.StatusCode)
	}
	auth, err := sipwsclient.Authorization(res, "MD5", "INVITE", inv.URI, testUser, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	inv.Headers = []string{auth}
	c.Send(c.Build(inv))
	res = c.Response()
	if w := res.GetHeader("Warning"); res.StatusCode != 488 || w == nil || !strings.HasPrefix(w.Value(), "399 ") {
		t.Fatalf("INVITE without SDP: %d %v, want 488 with Warning 399", res.StatusCode, w)
	}
	inv.Body = testOffer
	c.Send(c.Build(inv))
	d := gw.door(t, 0)
	dial, ok := d.next(t).(signaling.Dial)
	if !ok || dial.To != "+15550123" || dial.SDP != testOffer {
		t.Fatalf("the door was sent %+v, want a dial of +15550123 with the offer", dial)
	}
	d.out(signaling.ErrorReply{Code: signaling.CodeForbiddenNumber, Message: "to: the dial rules do not allow this number", CallID: dial.ID})
	res = c.Response()
	if w := res.GetHeader("Warning"); res.StatusCode != 403 || w == nil || !strings.Contains(w.Value(), "dial rules") {
		t.Errorf("refused dial: %d %v, want 403 with the refusal in a Warning", res.StatusCode, w)
	}
}

// TestBadInput: a message the parser refuses, or a request without a
// mandatory header, gets 400 when it has the headers a response needs;
// garbage gets nothing; neither ends the connection.
func TestBadInput(t *testing.T) {
	_, _, url := testServer(t, nil)
	c := sipwsclient.Dial(t, url)
	options := c.Build(sipwsclient.Request{Method: "OPTIONS", URI: "sip:webtrunk", From: testAOR})
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"bad Max-Forwards", strings.Replace(options, "Max-Forwards: 70", "Max-Forwards: many", 1), 400},
		{"no Call-ID", strings.Replace(options, "Call-ID: ", "X-Call-ID: ", 1), 400},
		{"garbage", "hello\r\n\r\n", 0},
	} {
		c.Send(tc.text)
		c.Send(options) // the connection still serves
		res := c.Response()
		if tc.want != 0 {
			if res.StatusCode != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
			}
			res = c.Response()
		}
		if res.StatusCode != 200 {
			t.Errorf("%s: OPTIONS after it: %d, want 200", tc.name, res.StatusCode)
		}
	}
}

// TestFlood: a connection over messages_per_second (burst twice as many)
// is closed with 1008.
func TestFlood(t *testing.T) {
	_, _, url := testServer(t, func(c *config.SIPWebSocketConfig) { c.MessagesPerSecond = 1 })
	c := sipwsclient.Dial(t, url)
	options := c.Build(sipwsclient.Request{Method: "OPTIONS", URI: "sip:webtrunk", From: testAOR})
	for range 5 {
		c.Send(options)
	}
	for {
		_, err := c.Read()
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Errorf("closed with %v (%v), want 1008", st, err)
			}

			return
		}
	}
}

// TestSubprotocolRequired: a WebSocket without subprotocol sip is closed
// with 1002 (RFC 7118 section 4.1).
func TestSubprotocolRequired(t *testing.T) {
	_, _, url := testServer(t, nil)
	ctx := t.Context()
	ws, _, err := websocket.Dial(ctx, url, nil) //nolint:bodyclose // the library closes it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	_, _, err = ws.Read(ctx)
	if st := websocket.CloseStatus(err); st != websocket.StatusProtocolError {
		t.Errorf("closed with %v (%v), want 1002", st, err)
	}
}

// TestRegisterBearer: a bearer token (RFC 8898) registers without a
// challenge; a bad one is refused 403, and a connection that fails
// maxAuthFailures times is closed with 1008.
func TestRegisterBearer(t *testing.T) {
	_, _, url := testServer(t, nil)
	c := sipwsclient.Dial(t, url)
	reg := func(tok string) *sipmsg.Response {
		t.Helper()
		c.Send(c.Build(sipwsclient.Request{Method: "REGISTER", URI: "sip:webtrunk", From: testAOR,
			Headers: []string{"Authorization: Bearer " + tok}}))

		return c.Response()
	}
	if res := reg(testToken); res.StatusCode != 200 {
		t.Fatalf("REGISTER with a good token: %d, want 200", res.StatusCode)
	}
	for i := range maxAuthFailures {
		if res := reg("forged"); res.StatusCode != 403 {
			t.Fatalf("REGISTER with a bad token (%d): %d, want 403", i, res.StatusCode)
		}
	}
	_, err := c.Read()
	if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
		t.Errorf("after %d failures: %v (%v), want a close with 1008", maxAuthFailures, st, err)
	}
}
