package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"
)

// inboundState is where a ringing inbound call is.
type inboundState int

const (
	inboundRinging   inboundState = iota // incoming sent, waiting for a browser
	inboundAccepting                     // one browser's accept is being set up
	inboundAccepted                      // a session owns the call
	inboundEnded                         // rejected, cancelled, timed out
)

// inboundCall is an inbound INVITE while it rings the browsers of its
// user (docs/protocol.md, "Inbound call"): the first accept wins and
// becomes a session; a reject from any browser declines it with 603; the
// trunk's CANCEL, the route's ring timeout and shutdown end it too.
type inboundCall struct {
	g     *Gateway
	id    string
	ic    *sip.IncomingCall
	user  string
	log   *slog.Logger
	start time.Time
	// ringAt is when the trunk got 180 and the browsers rang.
	ringAt time.Time

	// acceptedCh is closed once a session owns the call.
	acceptedCh chan struct{}
	// slot is the call's place in the gateway's admission count: released
	// by finish when the ringing ends, handed to the session on accept.
	slot *callSlot

	mu    sync.Mutex
	state inboundState
	conns map[*wsConn]struct{}
	// pending is an end that arrived while a browser's accept was being
	// set up; it takes effect if that accept fails.
	pending *pendingEnd
}

// pendingEnd is the arguments of a finish that had to wait.
type pendingEnd struct {
	cause *endError
	code  int
	text  string
}

// incoming is the user agent's handler of inbound INVITEs (it must not
// block): it routes the DID to a user and rings every connected browser of
// that user, or rejects the call: 503 while draining, 404 for a DID with
// no route, 480 when the user has no browser connected, 486 when the user
// already has as many calls as allowed (RFC 3261 section 21), and 503 with
// Retry-After (RFC 3261 sections 21.5.4 and 20.33) when the gateway
// carries calls.max_concurrent calls, in which case no browser rings.
func (g *Gateway) incoming(ic *sip.IncomingCall) {
	start := time.Now()
	log := g.log.With("sip_call_id", ic.CallID(), "direction", directionInbound, "from", ic.From(), "to", ic.To())
	user := ""
	reject := func(code int, text, why string) {
		log.Info("inbound call refused", "sip_code", code, "reason", why)
		g.metrics.CallsTotal.WithLabelValues(directionInbound, why).Inc()
		_ = ic.Reject(code, text)
		g.recordRefusedInbound(ic.CallID(), ic.From(), ic.To(), ic.Trunk(), user, start, code, text, why)
	}
	if g.draining.Load() {
		reject(503, "Service Unavailable", string(signaling.ReasonShutdown))

		return
	}
	pol := g.policy()
	rt, ok := pol.cfg.Route(ic.To())
	if !ok {
		rt, ok = g.ext.route(ic.To(), pol.cfg)
	}
	if !ok {
		reject(404, "Not Found", "no_route")

		return
	}
	user = rt.User
	conns := g.hub.conns(rt.User)
	if len(conns) == 0 {
		reject(480, "Temporarily Unavailable", "offline")

		return
	}
	var limit int
	if id := conns[0].identity(); id != nil {
		limit = id.MaxCalls
		if cur, err := pol.identity(*id); err == nil {
			limit = cur.MaxCalls
		}
	}
	if g.hub.atLimit(rt.User, limit) {
		reject(486, "Busy Here", string(signaling.ReasonBusy))

		return
	}
	slot := g.admission.acquire()
	if slot == nil {
		log.Info("inbound call refused", "sip_code", 503, "reason", deniedOverCapacity,
			"max_concurrent", pol.cfg.Calls.MaxConcurrent)
		g.metrics.CallsTotal.WithLabelValues(directionInbound, deniedOverCapacity).Inc()
		g.metrics.CallsOverCapacity.WithLabelValues(directionInbound).Inc()
		_ = ic.RejectRetryAfter(503, "Service Unavailable", capacityRetryAfter)
		g.recordRefusedInbound(ic.CallID(), ic.From(), ic.To(), ic.Trunk(), user, start, 503, "Service Unavailable", deniedOverCapacity)

		return
	}
	in := &inboundCall{
		g: g, id: "in-" + randomHex(8), ic: ic, user: rt.User, start: start, slot: slot,
		conns: make(map[*wsConn]struct{}, len(conns)), acceptedCh: make(chan struct{}),
	}
	in.log = log.With("call_id", in.id, "user", rt.User)
	msg := incomingMessage(in.id, ic)
	ringing := make([]*wsConn, 0, len(conns))
	in.mu.Lock()
	for _, c := range conns {
		if c.addOffer(in) {
			in.conns[c] = struct{}{}
			ringing = append(ringing, c)
		}
	}
	in.mu.Unlock()
	if len(ringing) == 0 {
		slot.release()
		reject(480, "Temporarily Unavailable", "offline")

		return
	}
	if !g.startRinging(in) {
		for _, c := range ringing {
			c.removeOffer(in.id, in)
		}
		slot.release()
		reject(503, "Service Unavailable", string(signaling.ReasonShutdown))

		return
	}
	// 180 goes out before any tab hears of the call, so that no accept
	// can answer the INVITE while the provisional response is being sent.
	in.mu.Lock()
	in.ringAt = time.Now()
	in.mu.Unlock()
	if err := ic.Ring(); err != nil {
		in.log.Debug("ring", "error", err)
	}
	for _, c := range ringing {
		c.send(msg)
	}
	in.log.Info("inbound call ringing", "browsers", len(ringing))
	g.publish(webhook.CallRinging, callFacts{CallID: in.id, SIPCallID: ic.CallID(), Direction: directionInbound,
		User: rt.User, From: ic.From(), To: ic.To(), Trunk: ic.Trunk()})
	go in.watch(rt.RingTimeout)
}

// randomHex returns n random bytes (crypto/rand) in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}

// watch ends the ringing when the trunk cancels (or the user agent gives
// up), the ring timeout passes or the gateway shuts down; it returns as
// soon as a browser accepted.
func (in *inboundCall) watch(ringTimeout time.Duration) {
	defer in.g.sessionWG.Done()
	defer in.g.sessions.removeRinging(in)
	defer in.g.metrics.CallsActive.WithLabelValues(directionInbound).Dec()
	timer := time.NewTimer(ringTimeout)
	defer timer.Stop()
	select {
	case <-in.ic.Done():
		in.finish(causeOf(in.ic.Cause()), 0, "")
	case <-timer.C:
		in.finish(&endError{Reason: signaling.ReasonRingTimeout, Err: errRingTimeout}, 480, "Temporarily Unavailable")
	case <-in.g.callCtx.Done():
		in.finish(&endError{Reason: signaling.ReasonShutdown, Err: errShutdown}, 503, "Service Unavailable")
	case <-in.acceptedCh:
	}
}

// finish ends a call that is still ringing: the trunk gets code (0: the
// call already ended on the trunk side), the call's admission slot is
// released and every ringing browser gets a hangup with the cause's
// reason. While a browser's accept is being set up the end waits: it takes
// effect if that accept fails (see resumeRinging). It does nothing once a
// browser accepted.
func (in *inboundCall) finish(cause *endError, code int, text string) {
	in.mu.Lock()
	switch in.state {
	case inboundRinging:
	case inboundAccepting:
		if in.pending == nil {
			in.pending = &pendingEnd{cause: cause, code: code, text: text}
		}
		in.mu.Unlock()

		return
	default:
		in.mu.Unlock()

		return
	}
	in.state = inboundEnded
	conns := in.conns
	in.conns = nil
	in.mu.Unlock()
	if code != 0 {
		_ = in.ic.Reject(code, text)
	}
	in.slot.release()
	ev := signaling.HangupEvent{CallID: in.id, Reason: cause.Reason, SIPCode: cause.SIPCode, SIPReason: cause.SIPText}
	for c := range conns {
		c.removeOffer(in.id, in)
		c.send(ev)
	}
	in.g.metrics.CallsTotal.WithLabelValues(directionInbound, string(cause.Reason)).Inc()
	in.mu.Lock()
	rec := in.ringingRecord(cause, code, text)
	in.mu.Unlock()
	in.g.writeRecord(rec)
	in.log.Info("call ended", "from", in.ic.From(), "to", in.ic.To(), "trunk", in.ic.Trunk(),
		"setup", time.Since(in.start).Round(time.Millisecond), "talk", time.Duration(0), "reason", string(cause.Reason))
}

// resumeRinging puts the call back to ringing after a failed accept, and
// ends it if the trunk, the ring timeout or shutdown ended it meanwhile.
func (in *inboundCall) resumeRinging() {
	in.mu.Lock()
	in.state = inboundRinging
	p := in.pending
	in.pending = nil
	in.mu.Unlock()
	if p != nil {
		in.finish(p.cause, p.code, p.text)
	}
}

// withdraw removes a closed connection from the browsers ringing; when
// none is left the trunk gets 480.
func (in *inboundCall) withdraw(c *wsConn) {
	in.mu.Lock()
	delete(in.conns, c)
	empty := in.state == inboundRinging && len(in.conns) == 0
	in.mu.Unlock()
	if empty {
		in.finish(&endError{Reason: signaling.ReasonFailed, Err: errNoBrowser}, 480, "Temporarily Unavailable")
	}
}

// errNotRinging answers accept or reject of a call that no longer rings.
var errNotRinging = &callError{Code: signaling.CodeOutOfOrder, Msg: "the call is not ringing"}

// reject declines a ringing inbound call for every browser: 603 Decline to
// the trunk and hangup rejected to each browser that was ringing.
func (c *wsConn) reject(id string) error {
	in := c.offer(id)
	if in == nil {
		if c.call(id) != nil {
			return errNotRinging
		}

		return errNotFound
	}
	in.mu.Lock()
	ringing := in.state == inboundRinging
	in.mu.Unlock()
	if !ringing {
		return errNotRinging
	}
	in.finish(&endError{Reason: signaling.ReasonRejected, SIPCode: 603, SIPText: "Decline", Err: errRejected}, 603, "Decline")

	return nil
}

// accept answers a ringing inbound call from this browser: its offer gets
// the gateway's answer, the other browsers hangup answered_elsewhere, and
// a session answers the trunk and bridges the call.
func (c *wsConn) accept(id auth.Identity, m signaling.Accept) error {
	g := c.g
	in := c.offer(m.CallID)
	if in == nil {
		if c.call(m.CallID) != nil {
			return errNotRinging
		}

		return errNotFound
	}
	in.mu.Lock()
	if in.state != inboundRinging {
		in.mu.Unlock()

		return errNotFound
	}
	in.state = inboundAccepting
	in.mu.Unlock()
	undo := in.resumeRinging
	if !g.hub.reserve(id.UserID, id.MaxCalls) {
		undo()

		return &callError{Code: signaling.CodeTooManyCalls, Msg: "too many calls"}
	}
	s := g.newSession(c, in.id, directionInbound, id)
	s.from, s.to, s.trunk, s.ic = in.ic.From(), in.ic.To(), in.ic.Trunk(), in.ic
	s.fromDialled, s.toDialled = s.from, s.to
	s.epoch = in.start
	in.mu.Lock()
	s.ringAt = in.ringAt
	in.mu.Unlock()
	s.setSIPCallID(in.ic.CallID())
	leg, answer, err := g.newLeg(s, m.SDP)
	if err != nil {
		s.cancel(err)
		g.hub.release(id.UserID)
		undo()

		return err
	}
	s.attach(leg)
	c.removeOffer(in.id, in)
	c.mu.Lock()
	c.calls[s.id] = s
	c.mu.Unlock()
	if !g.startSession(s) {
		c.removeCall(s.id, s)
		s.cancel(errShutdown)
		_ = leg.Close()
		g.hub.release(id.UserID)
		undo()

		return &callError{Code: signaling.CodeShuttingDown, Msg: "the gateway is shutting down"}
	}
	in.mu.Lock()
	in.state = inboundAccepted
	others := in.conns
	in.conns = nil
	in.pending = nil
	in.mu.Unlock()
	// The session owns the call, and its place in the admission count,
	// from now on.
	s.slot = in.slot
	close(in.acceptedCh)
	c.send(signaling.Answer{CallID: in.id, SDP: answer})
	for o := range others {
		if o == c {
			continue
		}
		o.removeOffer(in.id, in)
		o.send(signaling.HangupEvent{CallID: in.id, Reason: signaling.ReasonAnsweredElsewhere})
	}
	s.logger().Info("inbound call accepted", "browser_codec", leg.Media().String())
	go s.runInbound()

	return nil
}

// runInbound is the session goroutine of an accepted inbound call: 200 OK
// with the SDP answer to the trunk (RFC 3264), then the established call.
func (s *session) runInbound() {
	defer s.g.sessionWG.Done()
	defer s.finish()
	call, err := s.ic.Answer(s.ctx)
	if err != nil {
		if errors.Is(err, sip.ErrCallFinalized) && s.ctx.Err() != nil {
			return
		}
		s.end(err)

		return
	}
	s.established(call)
}

// addOffer records that inbound call in rings this connection.
func (c *wsConn) addOffer(in *inboundCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.ctx.Err() != nil {
		return false
	}
	c.offers[in.id] = in

	return true
}

// removeOffer forgets a ringing call.
func (c *wsConn) removeOffer(id string, in *inboundCall) { deleteIfSame(&c.mu, c.offers, id, in) }

// offer returns the inbound call ringing this connection under id.
func (c *wsConn) offer(id string) *inboundCall { return lockedGet(&c.mu, c.offers, id) }
