package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Call continuity across a dropped signaling connection (docs/protocol.md,
// "Resuming after a dropped connection"). The WebSocket carries signaling
// only, so its loss need not end a call: a connection that drops without
// a closing handshake is parked with its calls for calls.resume_window
// while the media keeps flowing, and an auth carrying the connection's
// resume token moves the calls, and every message the browser missed, to
// the new connection. The trunk leg never notices.

// Limits of resume tokens.
const (
	// resumeTokenBytes is the entropy of a resume token: 256 bits, sent as
	// 43 characters of unpadded base64url.
	resumeTokenBytes = 32
	// spentRemembered is how long a used or expired token is remembered,
	// so that presenting it again gets a precise error.
	spentRemembered = 10 * time.Minute
	// maxSpentTokens bounds the remembered spent tokens.
	maxSpentTokens = 10000
	// maxBacklog bounds the messages kept for a parked connection; a
	// hang-up is kept even beyond it, other messages are dropped.
	maxBacklog = sendQueueSize - 16
)

// Why a resume failed (the message of the resume_failed error) and why a
// connection's context ended.
var (
	errResumeUnknown     = errors.New("unknown resume token")
	errResumeUsed        = errors.New("resume token already used")
	errResumeExpired     = errors.New("resume token expired")
	errResumeOtherUser   = errors.New("resume token belongs to another user")
	errResumedElsewhere  = errors.New("gateway: calls resumed on another connection")
	errResumeUnavailable = errors.New("resuming is off on this gateway")
)

// Metric label values of Metrics.Resumes.
const (
	resumeOK       = "resumed"
	resumeParked   = "parked"
	resumeExpired  = "expired"
	resumeRefused  = "refused"
	resumeTakeover = "taken_over"
)

// tokenKey is the SHA-256 of a resume token: the gateway keeps only that,
// so a memory dump or a debug print reveals no usable token.
type tokenKey [sha256.Size]byte

// spentToken remembers why a token no longer resumes anything.
type spentToken struct {
	why   error
	until time.Time
}

// resumeStore maps live resume tokens to their connections and remembers
// spent ones. It is the gateway's only record of tokens.
type resumeStore struct {
	live  map[tokenKey]*wsConn
	spent map[tokenKey]spentToken
}

func newResumeStore() *resumeStore {
	return &resumeStore{live: make(map[tokenKey]*wsConn), spent: make(map[tokenKey]spentToken)}
}

// newResumeToken returns a fresh random token and its key.
func newResumeToken() (string, tokenKey) {
	var b [resumeTokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b[:])

	return tok, sha256.Sum256([]byte(tok))
}

// issueResume gives connection c a new resume token, replacing any it
// had, and returns it; "" when resuming is off.
func (g *Gateway) issueResume(c *wsConn) string {
	if g.cfg.Calls.ResumeWindow <= 0 {
		return ""
	}
	tok, key := g.newInstanceToken()
	g.resumeMu.Lock()
	defer g.resumeMu.Unlock()
	c.mu.Lock()
	old, had := c.resumeKey, c.hasResume
	c.resumeKey, c.hasResume, c.hadResume = key, true, true
	c.mu.Unlock()
	if had {
		delete(g.resume.live, old)
	}
	g.resume.live[key] = c

	return tok
}

// spendResume retires connection c's token with reason why. It reports
// false when c's token was claimed by a resume (which now owns c's calls).
func (g *Gateway) spendResume(c *wsConn, why error) bool {
	g.resumeMu.Lock()
	defer g.resumeMu.Unlock()
	c.mu.Lock()
	key, has, had := c.resumeKey, c.hasResume, c.hadResume
	c.hasResume = false
	c.mu.Unlock()
	if has && g.resume.live[key] == c {
		delete(g.resume.live, key)
		g.rememberSpent(key, why)

		return true
	}

	return !had
}

// rememberSpent records a spent token; resumeMu is held.
func (g *Gateway) rememberSpent(key tokenKey, why error) {
	now := time.Now()
	if len(g.resume.spent) >= maxSpentTokens {
		for k, sp := range g.resume.spent {
			if now.After(sp.until) || len(g.resume.spent) >= maxSpentTokens {
				delete(g.resume.spent, k)
			}
		}
	}
	g.resume.spent[key] = spentToken{why: why, until: now.Add(spentRemembered)}
}

// takeResume claims the connection a token resumes, for user (any user
// when empty). A token of another user is left as it is; a token that is
// claimed is spent at once, whatever follows, so it is single use.
func (g *Gateway) takeResume(token, user string) (*wsConn, tokenKey, error) {
	key := sha256.Sum256([]byte(token))
	if g.cfg.Calls.ResumeWindow <= 0 {
		return nil, key, errResumeUnavailable
	}
	if err := g.resumeElsewhere(token); err != nil {
		return nil, key, err
	}
	g.resumeMu.Lock()
	defer g.resumeMu.Unlock()
	old := g.resume.live[key]
	if old == nil {
		if sp, ok := g.resume.spent[key]; ok && time.Now().Before(sp.until) {
			return nil, key, sp.why
		}

		return nil, key, errResumeUnknown
	}
	id := old.identity()
	if id == nil {
		return nil, key, errResumeUnknown
	}
	if user != "" && id.UserID != user {
		return nil, key, errResumeOtherUser
	}
	delete(g.resume.live, key)
	g.rememberSpent(key, errResumeUsed)
	old.mu.Lock()
	old.hasResume = false
	old.mu.Unlock()

	return old, key, nil
}

// restoreResume gives back a token claimed by a resume that could not go
// on, so that the browser may try again.
func (g *Gateway) restoreResume(c *wsConn, key tokenKey) {
	g.resumeMu.Lock()
	defer g.resumeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next != nil || c.expired || c.hasResume {
		return
	}
	delete(g.resume.spent, key)
	g.resume.live[key] = c
	c.resumeKey, c.hasResume = key, true
}

// stopResumes stops the window timers of parked connections (shutdown:
// their calls end with the gateway's).
func (g *Gateway) stopResumes() {
	g.resumeMu.Lock()
	conns := slices.Collect(maps.Values(g.resume.live))
	g.resumeMu.Unlock()
	for _, c := range conns {
		c.stopParking()
	}
}

// endCalls decides the fate of the calls of a connection whose read loop
// ended: they move to a connection that resumed them, wait parked for
// one, or end now.
func (c *wsConn) endCalls(readErr error) {
	if c.parkable(readErr) {
		c.park()

		return
	}
	if c.g.spendResume(c, errResumeExpired) {
		c.shutdownCalls()

		return
	}
	c.withdrawOffers() // a resume took the calls
}

// parkable reports whether c holds calls for a browser that may come back:
// its connection dropped without a closing handshake, it had calls, and
// resuming is on. It decides from the cause the read loop ended with.
func (c *wsConn) parkable(readErr error) bool {
	if c.g.cfg.Calls.ResumeWindow <= 0 || c.g.draining.Load() || c.identity() == nil {
		return false
	}
	switch websocket.CloseStatus(readErr) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return false // the browser said goodbye: its calls end now
	}
	if cause := c.ctxCause(); errors.Is(cause, errSlowClient) || errors.Is(cause, errFlood) ||
		errors.Is(cause, errGoingAway) || errors.Is(cause, errUserConns) || errors.Is(cause, errAuthTime) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	return len(c.calls) > 0 && c.hasResume && c.next == nil
}

// ctxCause is why the connection's context ended, nil while it runs.
func (c *wsConn) ctxCause() error {
	if c.ctx.Err() == nil {
		return nil
	}

	return context.Cause(c.ctx)
}

// park keeps the calls of a dropped connection for calls.resume_window:
// messages for them are kept in a backlog for the connection that
// resumes; when nobody resumes in time the calls end with
// signaling_lost. The connection stops ringing for inbound calls.
func (c *wsConn) park() {
	window := c.g.cfg.Calls.ResumeWindow
	c.mu.Lock()
	if c.next != nil {
		c.mu.Unlock()

		return
	}
	c.parked = true
	c.drainQueueLocked()
	c.parkTimer = time.AfterFunc(window, c.expire)
	n := len(c.calls)
	c.mu.Unlock()
	c.withdrawOffers()
	c.g.metrics.Resumes.WithLabelValues(resumeParked).Inc()
	c.g.metrics.ConnectionsParked.Inc()
	c.log.Info("signaling connection lost, calls kept for resume", "calls", n, "resume_window", window)
}

// drainQueueLocked moves the messages the writer never sent to the
// backlog; c.mu is held.
func (c *wsConn) drainQueueLocked() {
	for {
		select {
		case m := <-c.out:
			c.backlog = append(c.backlog, m)
		default:
			return
		}
	}
}

// expire ends the calls of a parked connection nobody resumed. A resume
// that claimed the token first owns the calls: they are left to it.
func (c *wsConn) expire() {
	if !c.g.spendResume(c, errResumeExpired) {
		return
	}
	c.mu.Lock()
	if c.next != nil || !c.parked || c.expired {
		c.mu.Unlock()

		return
	}
	c.expired = true
	calls := c.callList()
	c.mu.Unlock()
	c.g.metrics.ConnectionsParked.Dec()
	c.g.metrics.Resumes.WithLabelValues(resumeExpired).Inc()
	c.log.Info("resume window over, ending calls", "calls", len(calls))
	for _, s := range calls {
		s.end(errSignalingLost)
	}
}

// stopParking stops the window timer of a parked connection (shutdown).
func (c *wsConn) stopParking() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parkTimer != nil {
		c.parkTimer.Stop()
	}
}

// callList returns the connection's calls; c.mu is held.
func (c *wsConn) callList() []*session {
	return slices.Collect(maps.Values(c.calls))
}

// deliver routes a message for a connection that dropped: to the
// connection that resumed it, or to its backlog while parked. It reports
// false when c is live and should queue m itself.
func (c *wsConn) deliver(m signaling.Message) bool {
	c.mu.Lock()
	if next := c.next; next != nil {
		c.mu.Unlock()
		next.send(m)

		return true
	}
	if !c.parked {
		c.mu.Unlock()

		return false
	}
	defer c.mu.Unlock()
	if _, hangup := m.(signaling.HangupEvent); hangup || len(c.backlog) < maxBacklog {
		c.backlog = append(c.backlog, m)
	}

	return true
}

// owner is the connection that holds c's calls now: c, or the one that
// resumed it (and so on, for a browser that resumed several times).
func (c *wsConn) owner() *wsConn {
	for {
		c.mu.Lock()
		next := c.next
		c.mu.Unlock()
		if next == nil {
			return c
		}
		c = next
	}
}

// resume authenticates connection c with a resume token: it takes over the
// calls of the connection the token was issued to, live or parked, and
// queues the authenticated reply followed by every message that
// connection did not deliver. A refused token touches no call.
func (c *wsConn) resume(a signaling.Auth) {
	old, key, err := c.g.takeResume(a.ResumeToken, a.User)
	if err != nil {
		c.g.metrics.Resumes.WithLabelValues(resumeRefused).Inc()
		c.g.metrics.AuthFailures.WithLabelValues("resume_failed").Inc()
		c.log.Info("resume refused", "reason", err.Error())
		c.send(signaling.ErrorReply{Code: signaling.CodeResumeFailed, Message: err.Error(), Ref: a.Ref})

		return
	}
	id := old.identity()
	// The old connection no longer counts as one of the user's: it is
	// gone, or about to be closed below.
	c.g.hub.forget(old, id.UserID)
	if !c.g.hub.login(c, id.UserID, c.g.cfg.Auth.MaxConnectionsPerUser) {
		c.g.restoreResume(old, key)
		c.g.metrics.WebSocketsRefused.WithLabelValues(connLimitUser).Inc()
		c.send(signaling.ErrorReply{Code: signaling.CodeTooManyConnections,
			Message: "this user already has the most connections allowed; close another tab", Ref: a.Ref})
		c.finish(websocket.StatusPolicyViolation, "too many connections for this user", errUserConns)

		return
	}
	tok, servers := c.g.issueResume(c), c.g.iceServersFor(id.UserID)
	c.mu.Lock()
	c.id = id
	c.log = c.log.With("user", id.UserID)
	c.mu.Unlock()
	// Stop the old connection's writer before taking what it still queues.
	old.cancel(errResumedElsewhere)
	old.mu.Lock()
	wasParked := old.parked && !old.expired
	if old.parkTimer != nil {
		old.parkTimer.Stop()
	}
	old.drainQueueLocked()
	backlog := old.backlog
	old.backlog = nil
	calls := old.callList()
	c.mu.Lock()
	resumed := make([]signaling.ResumedCall, 0, len(calls))
	for _, s := range calls {
		c.calls[s.id] = s
		st := signaling.CallStateSetup
		if callState(s.state.Load()) == stateConnected {
			st = signaling.CallStateConnected
		}
		resumed = append(resumed, signaling.ResumedCall{CallID: s.id, State: st})
	}
	c.mu.Unlock()
	// While old.mu is held, nobody can send through old: the reply and the
	// backlog reach c's queue before any newer message about these calls.
	c.send(signaling.Authenticated{
		Version: signaling.Version, User: id.UserID, MaxCalls: id.MaxCalls, ICEServers: servers,
		ResumeToken: tok, ResumeWindow: int(c.g.cfg.Calls.ResumeWindow / time.Millisecond),
		Resumed: true, Calls: resumed,
	})
	for _, m := range backlog {
		c.send(m)
	}
	old.next = c
	old.calls = make(map[string]*session)
	old.mu.Unlock()
	if wasParked {
		c.g.metrics.ConnectionsParked.Dec()
	} else {
		c.g.metrics.Resumes.WithLabelValues(resumeTakeover).Inc()
	}
	c.g.metrics.Resumes.WithLabelValues(resumeOK).Inc()
	c.log.Info("calls resumed", "calls", len(resumed), "missed_messages", len(backlog), "was_parked", wasParked)
}
