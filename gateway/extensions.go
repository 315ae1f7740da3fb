package gateway

import (
	"crypto/sha1" //nolint:gosec // RFC 4122 name-based UUID (version 5), not a security use
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// extensions keeps the users with a sip_account registered on their
// registrar while they have a browser on this gateway: the first browser
// of a user starts the registration; when the last one leaves, the
// registration is removed once calls.resume_window has passed without a
// browser coming back; a drain removes them all first.
//
// Presence comes from the hub: JSON-protocol connections from login to
// close, and SIP over WebSocket clients while they are registered (their
// door joins the hub at registration and leaves at unregistration or
// close).
type extensions struct {
	g *Gateway
	// instance is this gateway's RFC 5626 instance URN.
	instance string

	mu       sync.Mutex
	users    map[string]*extension
	browsers map[string]int // browsers per user with an account, all front doors
	draining bool

	registered *prometheus.GaugeVec
	failures   *prometheus.CounterVec
}

// extension is one user's registration.
type extension struct {
	user, username string
	reg            *sip.AccountRegistration
	// linger removes the registration when the resume window after the
	// last browser has passed; nil while a browser is connected.
	linger *time.Timer

	mu sync.Mutex
	st sip.RegistrationState
	// sent is the last state the browsers were told; greeted are the
	// browsers told of it (after their authenticated), pruned of closed
	// ones at each change.
	sent    signaling.Extension
	greeted map[*wsConn]struct{}
}

// newExtensions prepares the extensions of cfg's users; the metrics
// exist (at 0) for every user with an account.
func newExtensions(g *Gateway, cfg *config.Config) *extensions {
	x := &extensions{g: g, instance: instanceURN(cfg), users: map[string]*extension{}, browsers: map[string]int{}}
	x.registered, x.failures = g.metrics.registerExtensions()
	for _, u := range cfg.Auth.Users {
		if u.SIPAccount != nil {
			x.registered.WithLabelValues(u.ID).Set(0)
		}
	}

	return x
}

// instanceURN is the RFC 5626 section 4.1 instance URN of this gateway: a
// name-based UUID (RFC 4122 section 4.3, SHA-1) of cluster.instance, or
// of the SIP public host and first listener when it is not set, so that
// it survives restarts and differs between instances.
func instanceURN(cfg *config.Config) string {
	name := cfg.Cluster.Instance
	if name == "" {
		name = cfg.SIP.PublicHost
		if len(cfg.SIP.Listeners) > 0 {
			name += "|" + cfg.SIP.Listeners[0].Listen
		}
	}
	sum := sha1.Sum([]byte("webtrunk-instance:" + name)) //nolint:gosec // a name-based UUID
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80

	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// account returns user's sip_account in the current policy, nil for none.
func (x *extensions) account(user string) *config.SIPAccount {
	for _, u := range x.g.policy().cfg.Auth.Users {
		if u.ID == user {
			return u.SIPAccount
		}
	}

	return nil
}

// presence is the hub's report of a JSON-protocol browser arriving or
// leaving.
func (x *extensions) presence(user string, arrived bool) {
	if arrived {
		x.browserArrived(user)
	} else {
		x.browserLeft(user)
	}
}

// browserArrived counts a browser of user connecting, on any front door;
// the user's first starts its registration, or keeps the lingering one.
func (x *extensions) browserArrived(user string) {
	acct := x.account(user)
	if acct == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.browsers[user]++
	if x.draining {
		return
	}
	if e := x.users[user]; e != nil {
		if e.linger != nil {
			e.linger.Stop()
			e.linger = nil
		}

		return
	}
	host, port := acct.RegistrarHostPort()
	e := &extension{user: user, username: acct.Username, greeted: map[*wsConn]struct{}{}}
	reg, err := x.g.ua.StartAccount(sip.Account{
		Name: user, Host: host, Port: port, Transport: acct.Transport,
		Username: acct.Username, Password: acct.Password.Reveal(), Expiry: acct.Expiry,
		Instance: x.instance, OnState: func(st sip.RegistrationState) { x.changed(e, st) },
	})
	if err != nil {
		x.g.log.Warn("extension not registered", "user", user, "error", err)

		return
	}
	e.reg = reg
	x.users[user] = e
}

// browserLeft counts a browser of user leaving; after the user's last,
// the registration is removed when calls.resume_window passes without
// another.
func (x *extensions) browserLeft(user string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.browsers[user] == 0 {
		return
	}
	x.browsers[user]--
	if x.browsers[user] > 0 {
		return
	}
	delete(x.browsers, user)
	e := x.users[user]
	if e == nil || x.draining {
		return
	}
	e.linger = time.AfterFunc(x.g.policy().cfg.Calls.ResumeWindow, func() {
		x.mu.Lock()
		if x.users[user] != e || x.browsers[user] > 0 || x.draining {
			x.mu.Unlock()

			return
		}
		delete(x.users, user)
		x.mu.Unlock()
		e.reg.Stop()
	})
}

// drain removes every registration (RFC 3261 section 10.2.2), in
// parallel, and returns when all are done; no new one starts after.
func (x *extensions) drain() {
	x.mu.Lock()
	x.draining = true
	all := make([]*extension, 0, len(x.users))
	for _, e := range x.users {
		if e.linger != nil {
			e.linger.Stop()
		}
		all = append(all, e)
	}
	clear(x.users)
	x.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Go(e.reg.Stop)
	}
	wg.Wait()
	if len(all) > 0 {
		x.g.log.Info("extensions unregistered", "users", len(all))
	}
}

// message is the protocol form of a registration state.
func (e *extension) message(st sip.RegistrationState) signaling.Extension {
	m := signaling.Extension{Extension: e.username, SIPCode: st.LastCode}
	switch {
	case st.Registered:
		m.Status = signaling.ExtensionRegistered
	case st.Status == sip.RegUnregistered:
		m.Status = signaling.ExtensionUnregistered
	case st.LastCode == 403 || st.LastCode == 401 || st.LastCode == 407:
		m.Status = signaling.ExtensionForbidden
	default:
		m.Status = signaling.ExtensionFailed
	}

	return m
}

// changed takes a new registration state: metrics, and the user's
// browsers told when the state they see changed.
func (x *extensions) changed(e *extension, st sip.RegistrationState) {
	m := e.message(st)
	e.mu.Lock()
	e.st = st
	if m != e.sent {
		e.sent = m
		for c := range e.greeted {
			if c.ctx.Err() != nil { // closed
				delete(e.greeted, c)

				continue
			}
			c.send(m)
		}
	}
	e.mu.Unlock()
	v := 0.0
	if st.Registered {
		v = 1
	}
	x.registered.WithLabelValues(e.user).Set(v)
	if st.Status == sip.RegFailed {
		x.failures.WithLabelValues(e.user, strconv.Itoa(st.LastCode)).Inc()
	}
}

// greet tells a browser that just authenticated as user the state of the
// user's extension, when it has one with a state.
func (x *extensions) greet(c *wsConn, user string) {
	x.mu.Lock()
	e := x.users[user]
	x.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.greeted[c] = struct{}{}
	if e.sent.Status != "" {
		c.send(e.sent)
	}
}

// route returns the route of an inbound call to the extension username
// when it is registered from this gateway (an INVITE the registrar
// forwards to our contact carries it as its Request-URI user): to its
// user, with calls.ring_timeout of cfg.
func (x *extensions) route(username string, cfg *config.Config) (*config.Route, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.users {
		if e.username == username {
			return &config.Route{DID: username, User: e.user, RingTimeout: cfg.Calls.RingTimeout}, true
		}
	}

	return nil, false
}

// apiExtension is one extension in the admin API.
type apiExtension struct {
	User       string   `json:"user"`
	Extension  string   `json:"extension"`
	Status     string   `json:"status"`
	Registered bool     `json:"registered"`
	LastCode   int      `json:"last_code,omitempty"`
	LastError  string   `json:"last_error,omitempty"`
	Expires    cdr.Time `json:"expires,omitzero"`
	Failures   int      `json:"failures"`
	Browsers   int      `json:"browsers"`
}

// apiExtensions answers GET /v1/extensions: the registrations of users'
// extensions held by this gateway, sorted by user.
func (g *Gateway) apiExtensions(w http.ResponseWriter, _ *http.Request) {
	x := g.ext
	x.mu.Lock()
	out := make([]apiExtension, 0, len(x.users))
	for _, e := range x.users {
		e.mu.Lock()
		st, m := e.st, e.sent
		e.mu.Unlock()
		if m.Status == "" {
			m.Status = "registering"
		}
		out = append(out, apiExtension{
			User: e.user, Extension: e.username, Status: m.Status, Registered: st.Registered,
			LastCode: st.LastCode, LastError: st.LastError, Expires: cdr.At(st.Expires), Failures: st.Failures,
			Browsers: x.browsers[e.user],
		})
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b apiExtension) int {
		if a.User < b.User {
			return -1
		}
		if a.User > b.User {
			return 1
		}

		return 0
	})
	writeJSON(w, http.StatusOK, struct {
		Instance   string         `json:"instance"`
		Extensions []apiExtension `json:"extensions"`
	}{x.instance, out})
}
