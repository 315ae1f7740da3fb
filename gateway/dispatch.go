package gateway

import (
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// dispatch handles one valid client message in the read loop's goroutine.
// Every failure is answered with an error message naming the call and
// echoing the ref; none ends another call (docs/protocol.md, "The rule for
// failures").
func (c *wsConn) dispatch(msg signaling.ClientMessage) {
	if a, ok := msg.(signaling.Auth); ok {
		c.authenticate(a)

		return
	}
	id := c.identity()
	if id == nil {
		c.send(signaling.ErrorReply{Code: signaling.CodeOutOfOrder, Message: "authenticate first", Ref: msg.Reference()})

		return
	}
	if p, ok := msg.(signaling.Ping); ok {
		c.send(signaling.Pong(p))

		return
	}
	var callID string
	var err error
	switch m := msg.(type) {
	case signaling.Dial:
		start := time.Now()
		if callID, err = m.ID, c.dial(*id, m); err != nil {
			c.recordRefusedDial(*id, m, start, err)
		}
	case signaling.Accept:
		callID, err = m.CallID, c.accept(*id, m)
	case signaling.Reject:
		callID, err = m.CallID, c.reject(m.CallID)
	case signaling.Hangup:
		callID, err = m.CallID, c.hangup(m.CallID)
	case signaling.Candidate:
		callID, err = m.CallID, c.candidate(m)
	case signaling.DTMF:
		callID, err = m.CallID, c.sendDTMF(m)
	case signaling.Hold:
		callID, err = m.CallID, c.hold(m.CallID, true, m.Ref)
	case signaling.Resume:
		callID, err = m.CallID, c.hold(m.CallID, false, m.Ref)
	case signaling.ICERestart:
		callID, err = m.CallID, c.iceRestart(m)
	case signaling.Transfer:
		callID, err = m.CallID, c.transfer(*id, m)
	default:
		err = &callError{Code: signaling.CodeUnknownType, Msg: "unexpected message"}
	}
	if err != nil {
		c.send(replyFor(err, callID, msg.Reference()))
	}
}

// authenticate checks an auth message: a token or a configured user's
// password, rate limited per client address by package auth.
func (c *wsConn) authenticate(a signaling.Auth) {
	if c.identity() != nil {
		c.send(signaling.ErrorReply{Code: signaling.CodeOutOfOrder, Message: "already authenticated", Ref: a.Ref})

		return
	}
	if a.ResumeToken != "" {
		c.resume(a)

		return
	}
	var id auth.Identity
	var err error
	if a.Token != "" {
		id, err = c.g.auth.Token(c.remote, a.Token)
	} else {
		id, err = c.g.auth.Password(c.remote, a.User, a.Password)
	}
	if err != nil {
		c.g.metrics.AuthFailures.WithLabelValues(authFailureLabel(err)).Inc()
		c.log.Info("authentication failed", "reason", authFailureLabel(err))
		code := signaling.CodeUnauthorized
		if errors.Is(err, auth.ErrTryLater) {
			code = signaling.CodeTryLater
		}
		c.send(signaling.ErrorReply{Code: code, Message: auth.ClientReason(err), Ref: a.Ref})

		return
	}
	if c.g.locks.locked(id.UserID) {
		c.log.Info("authentication refused: user locked", "user", id.UserID)
		c.send(signaling.ErrorReply{Code: signaling.CodeUserLocked, Message: errUserLocked.Msg, Ref: a.Ref})

		return
	}
	if !c.g.hub.login(c, id.UserID, c.g.policy().cfg.Auth.MaxConnectionsPerUser) {
		c.g.metrics.WebSocketsRefused.WithLabelValues(connLimitUser).Inc()
		c.log.Info("websocket refused: auth.max_connections_per_user reached", "user", id.UserID)
		c.send(signaling.ErrorReply{Code: signaling.CodeTooManyConnections,
			Message: "this user already has the most connections allowed; close another tab", Ref: a.Ref})
		c.finish(websocket.StatusPolicyViolation, "too many connections for this user", errUserConns)

		return
	}
	c.mu.Lock()
	c.id = &id
	c.log = c.log.With("user", id.UserID)
	c.mu.Unlock()
	c.log.Debug("authenticated")
	c.send(signaling.Authenticated{
		Version: signaling.Version, User: id.UserID, MaxCalls: id.MaxCalls, ICEServers: c.g.iceServersFor(id.UserID),
		ResumeToken: c.g.issueResume(c), ResumeWindow: int(c.g.cfg.Calls.ResumeWindow / time.Millisecond),
	})
	c.g.ext.greet(c, id.UserID)
}

// authFailureLabel is the AuthFailures label of an authentication error.
func authFailureLabel(err error) string {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return "expired"
	case errors.Is(err, auth.ErrInvalidToken):
		return "invalid_token"
	case errors.Is(err, auth.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, auth.ErrTryLater):
		return "try_later"
	case errors.Is(err, auth.ErrMethodDisabled):
		return "method_disabled"
	default:
		return "bad_credentials"
	}
}

// errNotFound answers a message naming no current call of the connection.
var errNotFound = &callError{Code: signaling.CodeNotFound, Msg: "call_id: no such call"}

// hangup ends a call in any state; for a ringing inbound call it declines
// it like reject.
func (c *wsConn) hangup(id string) error {
	if s := c.call(id); s != nil {
		s.end(errLocalHangup)

		return nil
	}

	return c.reject(id)
}

// candidate adds a browser's trickled ICE candidate to its call.
func (c *wsConn) candidate(m signaling.Candidate) error {
	s := c.call(m.CallID)
	if s == nil {
		if c.offer(m.CallID) != nil {
			// Ringing: the offer comes with accept; pion takes candidates
			// only once it has the remote description.
			return nil
		}

		return errNotFound
	}
	if m.Candidate.Candidate == "" {
		return nil // end of candidates
	}

	return s.addCandidate(m.Candidate)
}

// connected returns the connected call id, or the error to answer.
func (c *wsConn) connected(id string) (*session, error) {
	s := c.call(id)
	if s == nil {
		return nil, errNotFound
	}
	if callState(s.state.Load()) != stateConnected {
		return nil, &callError{Code: signaling.CodeOutOfOrder, Msg: "the call is not connected"}
	}

	return s, nil
}

// sendDTMF queues digits for the trunk as RFC 4733 telephone-events.
func (c *wsConn) sendDTMF(m signaling.DTMF) error {
	s, err := c.connected(m.CallID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	b, q := s.bridge, s.infoQ
	s.mu.Unlock()
	if q != nil {
		return s.queueInfoDigits(q, m.Digits)
	}
	if b == nil {
		return errNoTelephoneEvent
	}
	if err := b.SendDTMF(m.Digits); err != nil {
		if errors.Is(err, bridge.ErrNoTelephoneEvent) {
			return errNoTelephoneEvent
		}

		return &callError{Code: signaling.CodeBadRequest, Msg: "digits: " + err.Error(), Err: err}
	}

	return nil
}

// errNoTelephoneEvent answers dtmf while the trunk has no telephone-event.
var errNoTelephoneEvent = &callError{Code: signaling.CodeOutOfOrder, Msg: "the trunk did not negotiate telephone-event"}
