package gateway

import (
	"errors"
	"math"
	"net/http"
	"net/netip"
	"slices"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/sipws"
)

// errDoorClosed ends the calls of a front door's connection that closed.
var errDoorClosed = errors.New("gateway: front door connection closed")

// sipWSHandler returns the handler of sip_websocket.path: the Origin
// check and connection limits of /ws (admitWebSocket), then the SIP over WebSocket
// front door (gateway/sipws), whose connections reach call control as
// doors.
func (g *Gateway) sipWSHandler() http.Handler {
	m := sipws.NewMetrics()
	g.metrics.Registry.MustRegister(m.Collectors()...)
	srv := sipws.New(g.cfg.SIPWebSocket, doors{g}, g.log, m)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done, ok := g.admitWebSocket(w, r)
		if !ok {
			return
		}
		defer done()
		srv.ServeHTTP(w, r)
	})
}

// doors is call control as the SIP over WebSocket front door sees it
// (sipws.Gateway).
type doors struct{ g *Gateway }

// SIPPassword returns the user's sip_password in the current policy.
func (d doors) SIPPassword(user string) (string, bool) {
	users := d.g.policy().cfg.Auth.Users
	i := slices.IndexFunc(users, func(u config.User) bool { return u.ID == user })
	if i < 0 || users[i].SIPPassword.IsZero() {
		return "", false
	}

	return users[i].SIPPassword.Reveal(), true
}

// Token checks a bearer token as the JSON protocol's auth does.
func (d doors) Token(remote netip.Addr, token string) (auth.Identity, error) {
	id, err := d.g.auth.Token(remote, token)
	if err != nil {
		d.g.metrics.AuthFailures.WithLabelValues(authFailureLabel(err)).Inc()
	}

	return id, err
}

// Open starts a connection of id whose messages go to out; a configured
// user's settings come from the current policy.
func (d doors) Open(remote netip.Addr, id auth.Identity, out func(signaling.Message)) (sipws.Door, error) {
	g := d.g
	user := id.UserID
	id, err := g.policy().identity(id)
	if err != nil {
		return nil, err
	}
	if g.locks.locked(user) {
		return nil, errUserLocked
	}
	c := newWSConn(g, nil, remote)
	c.sink = out
	c.id = &id
	c.log = c.log.With("user", user, "front_door", "sip_websocket")
	g.hub.track(c)
	dr := &door{c: c, writerDone: make(chan struct{})}
	go func() { defer close(dr.writerDone); c.writer() }()

	return dr, nil
}

// door is one connection of the SIP over WebSocket front door: a wsConn
// without a WebSocket, whose messages go to a function (sipws.Door).
type door struct {
	c          *wsConn
	writerDone chan struct{}
	ringing    bool
}

// Send handles one client message as the read loop of /ws would.
func (d *door) Send(m signaling.ClientMessage) {
	if d.c.ctx.Err() != nil {
		return
	}
	d.c.dispatch(m)
}

// Ring makes the user's inbound calls ring this connection, or not.
func (d *door) Ring(on bool) {
	c := d.c
	c.mu.Lock()
	was := d.ringing
	d.ringing = on
	c.mu.Unlock()
	switch {
	case on && !was:
		c.g.hub.login(c, c.id.UserID, math.MaxInt)
	case !on && was:
		c.g.hub.forgetUser(c, c.id.UserID)
		c.withdrawOffers()
	}
}

// Withdraw stops inbound call id ringing this connection.
func (d *door) Withdraw(id string) {
	if in := d.c.offer(id); in != nil {
		d.c.removeOffer(id, in)
		in.withdraw(d.c)
	}
}

// Done is closed when the gateway ends the connection.
func (d *door) Done() <-chan struct{} { return d.c.ctx.Done() }

// Close ends the connection's calls and forgets it.
func (d *door) Close() {
	c := d.c
	c.cancel(errDoorClosed)
	c.shutdownCalls()
	<-d.writerDone
	c.g.hub.forget(c, c.id.UserID)
}
