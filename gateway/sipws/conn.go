package sipws

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Timers of a connection.
const (
	// writeTimeout bounds writing one SIP message.
	writeTimeout = 10 * time.Second
	// pingInterval is how often the client is pinged (RFC 6455 section
	// 5.5.2); a ping not answered within pingTimeout closes the
	// connection, and with it its contacts.
	pingInterval = 20 * time.Second
	pingTimeout  = 10 * time.Second
	// minExpires is the shortest registration accepted (RFC 3261 section
	// 10.3 step 7, 423 Interval Too Brief).
	minExpires = 60
)

// errFlood closes a connection that sends too many messages.
var errFlood = errors.New("sipws: client sends too many messages")

// conn is one client's WebSocket: its read loop handles each SIP message
// in turn; doors (one per user the client authenticated as) carry its
// calls to the gateway.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	remote netip.Addr
	scheme string // WS or WSS, the Via transport (RFC 7118 section 5.2)
	host   string // our host in Via and Contact, a random .invalid name
	log    *slog.Logger
	ctx    context.Context //nolint:containedctx // the connection's lifetime
	cancel context.CancelCauseFunc
	limit  *rate.Limiter

	mu        sync.Mutex
	authFails int
	doors     map[string]Door
	calls     map[string]*call // by the gateway's call id
	sipID     map[string]*call // by SIP Call-ID
}

func newConn(s *Server, ws *websocket.Conn, remote netip.Addr, tls bool) *conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	scheme := "WS"
	if tls {
		scheme = "WSS"
	}
	n := s.cfg.MessagesPerSecond

	return &conn{
		s: s, ws: ws, remote: remote, scheme: scheme, host: token(6) + ".invalid",
		log: s.log.With("remote", remote.String()), ctx: ctx, cancel: cancel,
		limit: rate.NewLimiter(rate.Limit(n), 2*n),
		doors: make(map[string]Door), calls: make(map[string]*call), sipID: make(map[string]*call),
	}
}

// serve reads until the connection fails, then removes its contacts and
// ends its calls (RFC 7118 section 5).
func (c *conn) serve() {
	pinged := make(chan struct{})
	go func() { defer close(pinged); c.pinger() }()
	err := c.readLoop()
	c.cancel(err)
	<-pinged
	c.s.reg.removeConn(c, "")
	c.mu.Lock()
	doors := c.doors
	c.doors = map[string]Door{}
	c.mu.Unlock()
	for _, d := range doors {
		d.Close()
	}
	_ = c.ws.CloseNow()
	c.log.Debug("sip websocket closed", "cause", err)
}

// pinger pings the client until the connection ends; a ping without a
// pong ends it.
func (c *conn) pinger() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, pingTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.cancel(err)
				_ = c.ws.CloseNow()

				return
			}
		}
	}
}

// readLoop reads one SIP message per WebSocket message.
func (c *conn) readLoop() error {
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return err
		}
		if !c.limit.Allow() {
			c.s.metrics.Refused.WithLabelValues("flood").Inc()
			c.log.Info("sip websocket closed: too many messages")
			_ = c.ws.Close(websocket.StatusPolicyViolation, "too many messages")

			return errFlood
		}
		msg, err := sipmsg.ParseMessage(data)
		if err != nil {
			c.s.metrics.Refused.WithLabelValues("malformed").Inc()
			c.log.Info("malformed sip message", "error", err)
			c.badRequest(data, "Malformed message")

			continue
		}
		c.log.Debug("sip received", "message", strings.SplitN(string(data), "\r\n", 2)[0])
		switch m := msg.(type) {
		case *sipmsg.Request:
			if !complete(m) {
				c.s.metrics.Refused.WithLabelValues("malformed").Inc()
				c.log.Info("sip request without a mandatory header", "method", string(m.Method))
				c.badRequest(data, "Missing mandatory header")

				continue
			}
			c.request(m)
		case *sipmsg.Response:
			if m.CallID() != nil && m.CSeq() != nil {
				c.response(m)
			}
		}
	}
}

// complete reports whether req has the headers every request needs (RFC
// 3261 section 8.1.1).
func complete(req *sipmsg.Request) bool {
	return req.Via() != nil && req.From() != nil && req.To() != nil && req.CallID() != nil && req.CSeq() != nil
}

// badRequest answers 400 to a request the parser could not take apart,
// when its start line and the headers a response needs can be found in
// the raw text; a response or anything shorter gets nothing.
func (c *conn) badRequest(data []byte, why string) {
	text := string(data)
	head, _, _ := strings.Cut(text, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if len(lines) < 2 || strings.HasPrefix(lines[0], "SIP/") || !strings.HasSuffix(lines[0], "SIP/2.0") {
		return
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 " + why + "\r\n")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	c.write(b.String())
}

// write sends one SIP message; a failure ends the connection.
func (c *conn) write(text string) {
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		c.cancel(err)
		_ = c.ws.CloseNow()
	}
}

// reply answers req with code and reason and extra headers, as
// "Name: value" lines.
func (c *conn) reply(req *sipmsg.Request, code int, reason, toTag string, extra ...string) {
	c.replyBody(req, code, reason, toTag, nil, extra...)
}

// replyBody answers req with a body (an SDP answer when body is set).
func (c *conn) replyBody(req *sipmsg.Request, code int, reason, toTag string, body []byte, extra ...string) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && toTag != "" {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", toTag)
		}
	}
	for _, h := range extra {
		name, value, _ := strings.Cut(h, ": ")
		res.AppendHeader(sipmsg.NewHeader(name, value))
	}
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		res.SetBody(body)
	} else {
		res.SetBody(nil)
	}
	c.write(res.String())
}

// request handles one request from the client.
func (c *conn) request(req *sipmsg.Request) {
	method := string(req.Method)
	switch req.Method {
	case sipmsg.REGISTER, sipmsg.INVITE, sipmsg.ACK, sipmsg.BYE, sipmsg.CANCEL, sipmsg.INFO, sipmsg.OPTIONS:
	default:
		method = "other"
	}
	c.s.metrics.Requests.WithLabelValues(method).Inc()
	switch req.Method {
	case sipmsg.REGISTER:
		c.register(req)
	case sipmsg.INVITE:
		if tag, _ := req.To().Params.Get("tag"); tag != "" {
			c.reinvite(req)
		} else {
			c.invite(req)
		}
	case sipmsg.ACK:
		// A 2xx's ACK ends nothing over a reliable transport; a non-2xx's
		// ACK closes its transaction.
	case sipmsg.BYE:
		c.bye(req)
	case sipmsg.CANCEL:
		c.cancelInvite(req)
	case sipmsg.INFO:
		c.info(req)
	case sipmsg.OPTIONS:
		c.reply(req, 200, "OK", token(8), allowHeader)
	default:
		c.reply(req, 405, "Method Not Allowed", token(8), allowHeader)
	}
}

// allowHeader lists the methods the front door takes (RFC 3261 section
// 20.5).
const allowHeader = "Allow: INVITE, ACK, CANCEL, BYE, INFO, OPTIONS, REGISTER"

// maxAuthFailures is how many failed authentications a connection may
// make; the next closes it with 1008 (new connections per address are
// bounded by the gateway).
const maxAuthFailures = 5

// authenticate checks a request's credentials (Authorization for
// REGISTER, Proxy-Authorization otherwise): a bearer token (RFC 8898
// section 3) when auth.jwt is on, else digest, answering the challenge
// (401 or 407, RFC 3261 sections 22.2 and 22.3) or 403 when they fail. It
// returns the identity, or false when it answered.
func (c *conn) authenticate(req *sipmsg.Request) (auth.Identity, bool) {
	hdr, code, reason, chal := "Authorization", 401, "Unauthorized", "WWW-Authenticate"
	if req.Method != sipmsg.REGISTER {
		hdr, code, reason, chal = "Proxy-Authorization", 407, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	var value, bearer string
	for _, h := range req.GetHeaders(hdr) {
		v := h.Value()
		if tok, ok := cutPrefixFold(v, "Bearer "); ok {
			bearer = strings.TrimSpace(tok)
		} else if strings.Contains(v, `realm="`+c.s.cfg.Domain+`"`) {
			value = v
		}
	}
	if bearer != "" {
		id, err := c.s.gw.Token(c.remote, bearer)
		if err == nil {
			return id, true
		}
		c.authFailed(req, "bearer token: "+err.Error())

		return auth.Identity{}, false
	}
	user, err := c.s.auth.check(value, string(req.Method))
	switch {
	case err == nil:
		return auth.Identity{UserID: user}, true
	case errors.Is(err, errBadCredential):
		c.authFailed(req, "digest")

		return auth.Identity{}, false
	}
	var extra []string
	for _, v := range c.s.auth.challenges(errors.Is(err, errStaleNonce)) {
		extra = append(extra, chal+": "+v)
	}
	c.reply(req, code, reason, token(8), extra...)

	return auth.Identity{}, false
}

// authFailed answers 403 to credentials that failed, and closes a
// connection that failed maxAuthFailures times.
func (c *conn) authFailed(req *sipmsg.Request, why string) {
	c.s.metrics.Refused.WithLabelValues("auth").Inc()
	c.log.Info("sip authentication failed", "method", string(req.Method), "why", why)
	c.reply(req, 403, "Forbidden", token(8))
	c.mu.Lock()
	c.authFails++
	over := c.authFails >= maxAuthFailures
	c.mu.Unlock()
	if over {
		_ = c.ws.Close(websocket.StatusPolicyViolation, "too many failed authentications")
	}
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}

	return s, false
}

// door returns the connection's door for id's user, opening it on first use;
// nil when the gateway refused (the caller answers).
func (c *conn) door(id auth.Identity) Door {
	user := id.UserID
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.doors[user]; d != nil {
		return d
	}
	if c.ctx.Err() != nil {
		return nil
	}
	d, err := c.s.gw.Open(c.remote, id, func(m signaling.Message) { c.fromGateway(user, m) })
	if err != nil {
		c.log.Info("sip websocket: connection refused by call control", "user", user, "error", err)

		return nil
	}
	c.doors[user] = d
	go func() {
		select {
		case <-d.Done():
			// The gateway shuts down: the client is told by the close.
			_ = c.ws.Close(websocket.StatusGoingAway, "shutting down")
		case <-c.ctx.Done():
		}
	}()

	return d
}

// register handles REGISTER (RFC 3261 section 10.3): digest, then the
// bindings of the Contact headers with their expiry (Contact "*" with
// Expires 0 removes all), answered with the user's current bindings on
// this connection.
func (c *conn) register(req *sipmsg.Request) {
	id, ok := c.authenticate(req)
	if !ok {
		return
	}
	user := id.UserID
	to := req.To().Address
	if to.User != user || !strings.EqualFold(to.Host, c.s.cfg.Domain) {
		c.reply(req, 403, "Forbidden", token(8), `Warning: 399 webtrunk "the address of record is not the authenticated user's"`)

		return
	}
	defaultTTL := 3600
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			defaultTTL = n
		}
	}
	for _, h := range req.GetHeaders("Contact") {
		v := strings.TrimSpace(h.Value())
		if v == "*" {
			if defaultTTL != 0 {
				c.reply(req, 400, "Bad Request", token(8))

				return
			}
			c.s.reg.removeConn(c, user)

			continue
		}
		uri, ttl, ok := parseContact(v, defaultTTL)
		if !ok {
			c.reply(req, 400, "Bad Contact", token(8))

			return
		}
		if ttl > 0 && ttl < minExpires {
			c.reply(req, 423, "Interval Too Brief", token(8), "Min-Expires: "+strconv.Itoa(minExpires))

			return
		}
		ttl = min(ttl, int(c.s.cfg.MaxExpires/time.Second))
		if err := c.s.reg.update(c, user, uri, time.Duration(ttl)*time.Second); err != nil {
			c.s.metrics.Refused.WithLabelValues("registrations").Inc()
			c.log.Info("registration refused: sip_websocket.max_registrations_per_user reached", "user", user)
			c.reply(req, 403, "Forbidden", token(8), `Warning: 399 webtrunk "too many registrations for this user"`)

			return
		}
	}
	bound := c.s.reg.contacts(c, user)
	extra := make([]string, 0, len(bound))
	for _, b := range bound {
		extra = append(extra, "Contact: <"+b.uri+">;expires="+strconv.Itoa(b.left))
	}
	if len(bound) > 0 && c.door(id) == nil {
		c.s.reg.removeConn(c, user)
		c.reply(req, 403, "Forbidden", token(8))

		return
	}
	// The door rings before the client learns it is registered.
	c.bindingsChanged(user)
	c.reply(req, 200, "OK", token(8), extra...)
	c.log.Info("sip registration", "user", user, "contacts", len(bound))
}

// bindingsChanged makes inbound calls of user ring this connection while
// it has a binding for user.
func (c *conn) bindingsChanged(user string) {
	c.mu.Lock()
	d := c.doors[user]
	c.mu.Unlock()
	if d != nil {
		d.Ring(len(c.s.reg.contacts(c, user)) > 0)
	}
}

// parseContact returns the URI of a Contact header value and its expiry
// in seconds (its expires parameter, else def).
func parseContact(v string, def int) (string, int, bool) {
	var uri sipmsg.Uri
	params := sipmsg.NewParams()
	if _, err := sipmsg.ParseAddressValue(v, &uri, &params); err != nil {
		return "", 0, false
	}
	ttl := def
	if e, ok := params.Get("expires"); ok {
		n, err := strconv.Atoi(e)
		if err != nil || n < 0 {
			return "", 0, false
		}
		ttl = n
	}

	return uri.String(), ttl, true
}
