package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Limits and timers of a signaling connection.
const (
	// authTimeout is how long a connection may stay unauthenticated before
	// it is closed with status 1008 (policy violation).
	authTimeout = 10 * time.Second
	// sendQueueSize is how many messages may wait for the connection's
	// writer; a client that lets more pile up is disconnected.
	sendQueueSize = 256
	// writeTimeout bounds writing one message.
	writeTimeout = 10 * time.Second
	// pingInterval is how often the server pings the client (RFC 6455
	// section 5.5.2); a ping not answered within pingTimeout closes it.
	pingInterval = 20 * time.Second
	pingTimeout  = 10 * time.Second
	// messageRate and messageBurst bound the messages a client may send
	// per second; a client over the limit is disconnected with 1008.
	messageRate  = 50
	messageBurst = 200
	// closeTimeout bounds the closing handshake at shutdown.
	closeTimeout = 2 * time.Second
	// connRate and connBurst bound new WebSocket connections per client
	// address: a burst of connBurst, then connRate per second.
	connRate  = 10
	connBurst = 100
)

// Connection limits, the label of Metrics.WebSocketsRefused.
const (
	connLimitGateway = "gateway"
	connLimitUser    = "user"
)

// Why a connection closed, the cause of its context.
var (
	errSlowClient = errors.New("gateway: client too slow to read its messages")
	errAuthTime   = errors.New("gateway: not authenticated in time")
	errFlood      = errors.New("gateway: client sends too many messages")
	errGoingAway  = errors.New("gateway: shutting down")
	errUserConns  = errors.New("gateway: too many connections for the user")
)

// handleWS upgrades /ws to a WebSocket (RFC 6455) after checking its
// Origin, and serves the signaling protocol on it until it closes.
func (g *Gateway) handleWS(w http.ResponseWriter, r *http.Request) {
	done, ok := g.admitWebSocket(w, r)
	if !ok {
		return
	}
	defer done()
	remote := remoteAddr(r)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.log.Debug("websocket upgrade", "error", err)

		return
	}
	// ReadFrame enforces the protocol's limits itself (an oversized frame is
	// skipped, a flood closes with 1009 after a closing handshake); the
	// library's own limit only backs it up, one byte further.
	ws.SetReadLimit(signaling.MaxSkipSize + 1)
	c := newWSConn(g, ws, remote)
	g.hub.track(c)
	g.metrics.WebSocketSessions.Inc()
	defer g.metrics.WebSocketSessions.Dec()
	c.serve()
}

// admitWebSocket checks a WebSocket upgrade of any front door: its
// Origin, the client address's connection rate, draining and
// http.max_connections. It answers a refusal itself and returns false;
// otherwise done must be called when the connection has ended.
func (g *Gateway) admitWebSocket(w http.ResponseWriter, r *http.Request) (done func(), ok bool) {
	if !g.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)

		return nil, false
	}
	remote := remoteAddr(r)
	now := time.Now()
	if !g.connLimit.Allowed(remote, now) {
		http.Error(w, "too many connections", http.StatusTooManyRequests)

		return nil, false
	}
	g.connLimit.Failed(remote, now)
	if !g.acceptConn() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)

		return nil, false
	}
	if n := g.openConns.Add(1); n > int64(g.cfg.HTTP.MaxConnections) {
		g.openConns.Add(-1)
		g.connWG.Done()
		g.metrics.WebSocketsRefused.WithLabelValues(connLimitGateway).Inc()
		if g.limitLog.allow(connLimitGateway, time.Now()) {
			g.log.Warn("websocket refused: http.max_connections reached", "max_connections", g.cfg.HTTP.MaxConnections)
		}
		http.Error(w, "too many connections", http.StatusServiceUnavailable)

		return nil, false
	}

	return func() {
		g.openConns.Add(-1)
		g.connWG.Done()
	}, true
}

// acceptConn counts a new connection unless the gateway is draining.
func (g *Gateway) acceptConn() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining.Load() {
		return false
	}
	g.connWG.Add(1)

	return true
}

// remoteAddr is the client's IP address.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, _ := netip.ParseAddr(host)

	return a.Unmap()
}

// wsConn is one browser's signaling connection. Its read loop runs in the
// HTTP handler's goroutine and handles each message in turn; one writer
// goroutine sends what the connection and its calls queue with send, so a
// slow client never blocks call control; a pinger checks it is alive.
type wsConn struct {
	g      *Gateway
	ws     *websocket.Conn
	remote netip.Addr
	log    *slog.Logger
	ctx    context.Context //nolint:containedctx // the connection's lifetime
	cancel context.CancelCauseFunc
	out    chan signaling.Message
	drain  chan struct{}
	limit  *rate.Limiter

	mu     sync.Mutex
	id     *auth.Identity
	calls  map[string]*session
	offers map[string]*inboundCall
	closed bool
	// finCode, finReason and finCause are how finish asked the writer to
	// close the connection.
	finCode   websocket.StatusCode
	finReason string
	finCause  error
	once      sync.Once
	// sink, set for a connection of another front door (door.go),
	// receives the messages instead of a WebSocket; ws is nil then.
	sink func(signaling.Message)

	// Resuming (resume.go): the key of the connection's live resume token
	// (hasResume; hadResume once it had one), whether it is parked waiting
	// for a resume and the timer of that wait, the messages kept for the
	// browser meanwhile, and the connection that resumed it.
	resumeKey tokenKey
	hasResume bool
	hadResume bool
	parked    bool
	expired   bool
	parkTimer *time.Timer
	backlog   []signaling.Message
	next      *wsConn
}

func newWSConn(g *Gateway, ws *websocket.Conn, remote netip.Addr) *wsConn {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &wsConn{
		g: g, ws: ws, remote: remote, ctx: ctx, cancel: cancel,
		log:    g.log.With("remote", remote.String()),
		out:    make(chan signaling.Message, sendQueueSize),
		drain:  make(chan struct{}),
		limit:  rate.NewLimiter(messageRate, messageBurst),
		calls:  make(map[string]*session),
		offers: make(map[string]*inboundCall),
	}
}

// serve runs the connection until it closes, then ends its calls.
func (c *wsConn) serve() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.writer() }()
	go func() { defer wg.Done(); c.pinger() }()
	authTimer := time.AfterFunc(authTimeout, func() {
		if c.identity() == nil {
			c.closeWith(websocket.StatusPolicyViolation, "authentication timeout", errAuthTime)
		}
	})
	err := c.readLoop()
	authTimer.Stop()
	c.cancel(err)
	c.endCalls(err)
	wg.Wait()
	_ = c.ws.CloseNow()
	user := ""
	if id := c.identity(); id != nil {
		user = id.UserID
	}
	c.g.hub.forget(c, user)
	c.log.Debug("websocket closed", "cause", context.Cause(c.ctx))
}

// readLoop reads and handles messages until the connection fails.
func (c *wsConn) readLoop() error {
	var buf bytes.Buffer
	for {
		typ, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			return err
		}
		data, err := signaling.ReadFrame(r, &buf)
		switch {
		case errors.Is(err, signaling.ErrFrameTooLarge):
			c.send(signaling.FrameTooLargeReply())

			continue
		case errors.Is(err, signaling.ErrFrameFlood):
			// A closing handshake, not an abrupt close: closing the socket
			// with the rest of the frame unread would reset the TCP
			// connection and the client would never see the 1009.
			c.closeWith(websocket.StatusMessageTooBig, "message too big", err)

			return err
		case err != nil:
			return err
		}
		if !c.limit.Allow() {
			c.closeWith(websocket.StatusPolicyViolation, "too many messages", errFlood)

			return errFlood
		}
		if typ != websocket.MessageText {
			c.send(signaling.ErrorReply{Code: signaling.CodeBadRequest, Message: "binary messages are not part of the protocol"})

			continue
		}
		msg, err := signaling.Decode(data)
		if err != nil {
			var de *signaling.DecodeError
			if errors.As(err, &de) {
				c.send(de.Reply())
			} else {
				c.send(signaling.ErrorReply{Code: signaling.CodeBadRequest, Message: "malformed message"})
			}

			continue
		}
		c.dispatch(msg)
	}
}

// send queues m for the writer without blocking. A client whose queue is
// full is too slow: it is disconnected, and its calls end.
func (c *wsConn) send(m signaling.Message) {
	if c.deliver(m) {
		return
	}
	select {
	case c.out <- m:
	default:
		c.cancel(errSlowClient)
	}
}

// writer sends queued messages until the connection ends; at shutdown it
// sends what is queued and closes with 1001 (going away).
func (c *wsConn) writer() {
	var enc signaling.Encoder
	write := func(m signaling.Message) error {
		if c.sink != nil {
			c.sink(m)

			return nil
		}
		b, err := enc.Encode(m)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
		defer cancel()

		return c.ws.Write(ctx, websocket.MessageText, b)
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.drain:
			for {
				select {
				case m := <-c.out:
					if write(m) != nil {
						return
					}
				default:
					c.mu.Lock()
					code, reason, cause := c.finCode, c.finReason, c.finCause
					c.mu.Unlock()
					c.closeWith(code, reason, cause)

					return
				}
			}
		case m := <-c.out:
			if err := write(m); err != nil {
				c.cancel(err)

				return
			}
		}
	}
}

// pinger pings the client periodically; an unanswered ping ends it. It
// also refreshes the client's TURN credentials before they expire.
func (c *wsConn) pinger() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	refresh, stop := c.g.iceRefreshTicker()
	defer stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-refresh:
			c.refreshICEServers()
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, pingTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.cancel(err)

				return
			}
		}
	}
}

// closeWith closes the WebSocket with a status code and reason (RFC 6455
// section 7.4), bounded by closeTimeout, and ends the connection.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string, cause error) {
	c.once.Do(func() {
		if c.ws == nil {
			c.cancel(cause)

			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.ws.Close(code, reason)
		}()
		select {
		case <-done:
		case <-time.After(closeTimeout):
			_ = c.ws.CloseNow()
		}
		c.cancel(cause)
	})
}

// goAway asks the writer to flush and close the connection (shutdown).
func (c *wsConn) goAway() { c.finish(websocket.StatusGoingAway, "shutting down", errGoingAway) }

// finish asks the writer to send what is queued, then close the
// connection with code and reason (RFC 6455 section 7.4); cause ends its
// context. Only the first call counts.
func (c *wsConn) finish(code websocket.StatusCode, reason string, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.finCode, c.finReason, c.finCause = code, reason, cause
		close(c.drain)
	}
}

// identity returns the authenticated identity, nil before auth.
func (c *wsConn) identity() *auth.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.id
}

// addCall registers a call of this connection; false when the id is in use.
func (c *wsConn) addCall(s *session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, used := c.calls[s.id]; used {
		return false
	}
	if _, used := c.offers[s.id]; used {
		return false
	}
	c.calls[s.id] = s

	return true
}

// removeCall forgets a call that ended, on whichever connection holds it
// now.
func (c *wsConn) removeCall(id string, s *session) {
	o := c.owner()
	deleteIfSame(&o.mu, o.calls, id, s)
}

// call returns the call with the given id.
func (c *wsConn) call(id string) *session { return lockedGet(&c.mu, c.calls, id) }

// deleteIfSame deletes m[id] under mu when it is still v: an id a later
// call or offer took over stays.
func deleteIfSame[V comparable](mu *sync.Mutex, m map[string]V, id string, v V) {
	mu.Lock()
	defer mu.Unlock()
	if m[id] == v {
		delete(m, id)
	}
}

// lockedGet returns m[id] under mu.
func lockedGet[V any](mu *sync.Mutex, m map[string]V, id string) V {
	mu.Lock()
	defer mu.Unlock()

	return m[id]
}

// shutdownCalls ends every call of a closed connection (the trunk gets
// BYE or CANCEL) and withdraws it from inbound calls that ring it.
func (c *wsConn) shutdownCalls() {
	c.mu.Lock()
	calls := c.callList()
	c.mu.Unlock()
	for _, s := range calls {
		s.end(errConnClosed)
	}
	c.withdrawOffers()
}

// withdrawOffers withdraws a closed connection from the inbound calls that
// ring it.
func (c *wsConn) withdrawOffers() {
	c.mu.Lock()
	offers := slices.Collect(maps.Values(c.offers))
	c.mu.Unlock()
	for _, in := range offers {
		in.withdraw(c)
	}
}
