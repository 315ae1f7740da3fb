package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"
)

// dial handles a dial message (docs/protocol.md, "Outbound call"): the
// checks come first, in order (gateway draining, call id in use, user
// locked, number and route, dial rules, trunk registration, the user's
// fraud limits, the user's call limit, the gateway's call limit, a free
// trunk-side RTP port pair, the offer), and a
// failed check is answered with an error while nothing reaches a trunk. The
// gateway's limit is taken before any resource: no PeerConnection exists and
// no INVITE is sent for a dial over calls.max_concurrent. The RTP port pair
// is taken before the browser is answered, so a dial that would find none
// is refused over_capacity instead of failing after the answer. Then the
// browser gets the answer and the session goroutine places the call.
func (c *wsConn) dial(id auth.Identity, m signaling.Dial) error {
	g := c.g
	if g.draining.Load() {
		g.metrics.DialsDenied.WithLabelValues(deniedShuttingDown).Inc()

		return &callError{Code: signaling.CodeShuttingDown, Msg: "the gateway is shutting down"}
	}
	if c.call(m.ID) != nil || c.offer(m.ID) != nil {
		return &callError{Code: signaling.CodeOutOfOrder, Msg: "id: already in use"}
	}
	if g.locks.locked(id.UserID) {
		return errUserLocked
	}
	pol := g.policy()
	id, err := pol.identity(id)
	if err != nil {
		return err
	}
	rt, denied, err := pol.router.Route(m.To, id.DialRules)
	if err != nil {
		g.metrics.DialsDenied.WithLabelValues(denied).Inc()
		c.log.Info("dial refused", "call_id", m.ID, "to", m.To, "reason", denied)

		return err
	}
	from := callerID(id, rt)
	if rt, from, err = c.authorizeDial(pol, id.DialRules, m, id.UserID, rt, from); err != nil {
		return err
	}
	if !g.routeAvailable(rt) {
		g.metrics.DialsDenied.WithLabelValues(deniedNoRoute).Inc()

		return trunkUnavailable(rt)
	}
	ticket, longest, err := g.takeLimits(pol, id.UserID, rt.E164)
	if err != nil {
		c.log.Info("dial refused", "call_id", m.ID, "to", rt.E164, "reason", err.Error())

		return err
	}
	if !g.hub.reserve(id.UserID, id.MaxCalls) {
		g.endLimits(&ticket, 0)
		g.metrics.DialsDenied.WithLabelValues(deniedTooManyCalls).Inc()

		return &callError{Code: signaling.CodeTooManyCalls, Msg: "too many calls"}
	}
	slot := g.admission.acquire()
	if slot == nil {
		g.endLimits(&ticket, 0)
		g.hub.release(id.UserID)
		g.metrics.DialsDenied.WithLabelValues(deniedOverCapacity).Inc()
		g.metrics.CallsOverCapacity.WithLabelValues(directionOutbound).Inc()
		c.log.Info("dial refused", "call_id", m.ID, "to", m.To, "reason", deniedOverCapacity,
			"max_concurrent", pol.cfg.Calls.MaxConcurrent)

		return errOverCapacity
	}
	rtp, err := g.ua.ReservePorts()
	if err != nil {
		g.endLimits(&ticket, 0)
		g.hub.release(id.UserID)
		slot.release()
		if !errors.Is(err, sip.ErrNoPorts) {
			return fmt.Errorf("gateway: rtp ports: %w", err)
		}
		g.metrics.DialsDenied.WithLabelValues(deniedOverCapacity).Inc()
		c.log.Info("dial refused", "call_id", m.ID, "to", m.To, "reason", deniedOverCapacity, "error", err)

		return errNoRTPPorts
	}
	// release undoes the reservations when the dial fails before the
	// session goroutine, which otherwise releases them when the call ends
	// (the RTP ports go with the sip call: Dial closes them on every path).
	release := func() {
		g.endLimits(&ticket, 0)
		g.hub.release(id.UserID)
		slot.release()
		_ = rtp.Close()
	}
	s := g.newSession(c, m.ID, directionOutbound, id)
	s.pol = pol
	s.ticket, s.longest = &ticket, longest
	s.slot = slot
	s.from, s.to, s.trunk = from, rt.E164, rt.Trunk
	s.fromDialled, s.toDialled = id.CallerID, m.To
	if from != callerID(id, rt) {
		s.fromRewritten = from
	}
	s.withheld = id.Privacy == config.PrivacyID || m.Privacy == signaling.PrivacyID
	leg, answer, err := g.newLeg(s, m.SDP)
	if err != nil {
		s.cancel(err)
		release()

		return err
	}
	s.attach(leg)
	if !c.addCall(s) {
		s.cancel(errLocalHangup)
		_ = leg.Close()
		release()

		return &callError{Code: signaling.CodeOutOfOrder, Msg: "id: already in use"}
	}
	if !g.startSession(s) {
		c.removeCall(s.id, s)
		s.cancel(errShutdown)
		_ = leg.Close()
		release()

		return &callError{Code: signaling.CodeShuttingDown, Msg: "the gateway is shutting down"}
	}
	c.send(signaling.Answer{CallID: m.ID, SDP: answer})
	s.logger().Info("dialling", "to", rt.E164, "trunk", rt.Trunk, "browser_codec", leg.Media().String())
	go s.runOutbound(rt, rtp)

	return nil
}

// errNoRTPPorts answers a dial while every trunk-side RTP port pair is
// taken (sip.rtp is too small for the calls in progress).
var errNoRTPPorts = &callError{
	Code: signaling.CodeOverCapacity, Msg: "the gateway has no free media port, try again shortly", Err: sip.ErrNoPorts,
}

// errOverCapacity answers a dial while the gateway carries
// calls.max_concurrent calls.
var errOverCapacity = &callError{
	Code: signaling.CodeOverCapacity, Msg: "the gateway is at its call capacity, try again shortly", Err: ErrOverCapacity,
}

// callerID is the number presented on a user's outbound call: its own
// caller ID, else the trunk's default (empty lets the user agent use it).
func callerID(id auth.Identity, rt route) string {
	if id.CallerID != "" {
		return id.CallerID
	}

	return rt.DefaultCallerID
}

// runOutbound is the session goroutine of an outbound call: INVITE through
// the trunk (CANCEL when the session ends first or the ring timeout
// passes), provisional responses relayed to the browser, early media
// bridged, then the established call. rtp is the call's reserved RTP port
// pair, which Dial takes over.
func (s *session) runOutbound(rt route, rtp *sip.RTPConn) {
	defer s.g.sessionWG.Done()
	defer s.finish()
	ring := time.AfterFunc(s.pol.cfg.Calls.RingTimeout, func() { s.end(errRingTimeout) })
	call, err := s.dialRoute(rt, rtp)
	ring.Stop()
	if err != nil {
		s.end(err)

		return
	}
	s.established(call)
}

// progress relays a provisional response of the outbound INVITE: 180
// without SDP is ringing; SDP (183, or 180 with SDP) is early media, which
// starts the bridge at once (RFC 3960). It runs in Dial's goroutine and
// does not block.
func (s *session) progress(p sip.Progress) {
	if p.Call != nil {
		s.setSIPCallID(p.Call.CallID())
	}
	s.mu.Lock()
	first := s.ringAt.IsZero()
	if first {
		s.ringAt = time.Now()
	}
	s.mu.Unlock()
	if first {
		s.publishCall(webhook.CallRinging)
	}
	if !p.EarlyMedia {
		if s.ringOnce() {
			s.conn.send(signaling.Ringing{CallID: s.id})
		}

		return
	}
	if err := s.startMedia(p.Call); err != nil {
		s.logger().Warn("early media", "error", err)
		if s.ringOnce() {
			s.conn.send(signaling.Ringing{CallID: s.id})
		}

		return
	}
	s.mediaRef.Store(s.since())
	s.conn.send(signaling.Progress{CallID: s.id})
}

// trunkUp reports whether a trunk of pol may take calls: a trunk that
// registers must hold a current registration.
func (g *Gateway) trunkUp(pol *policy, name string) bool {
	t, ok := pol.cfg.Trunk(name)
	if !ok || !t.Register.Enabled {
		return ok
	}
	for _, st := range g.ua.RegistrationStates() {
		if st.Trunk == name {
			return st.Registered
		}
	}

	return false
}
