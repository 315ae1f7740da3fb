package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// Transfer by the trunk (docs/protocol.md, "referred"): a trunk with
// transfer: refer may send a REFER in a connected call's dialog asking the
// gateway, the transferee, to call another number in the call's place
// (blind transfer, RFC 3515; RFC 5589 section 6). The number is checked as
// a dial of the call's user would be (numbering plan and route, dial
// rules, the dial authorisation hook, the user's limits), so a trunk can
// make a user's call reach only numbers the user could dial: a refusal is
// a 403 with a Warning and the call goes on. An accepted REFER gets 202
// and NOTIFY 100 Trying; the gateway calls the number on the same trunk
// with the user's caller ID, and when it answers moves the browser's audio
// to it (bridge.ReplaceTrunk), tells the browser (referred), sends the
// trunk the final NOTIFY 200 and ends the old call with a BYE. When the
// new call fails the trunk gets its status in the final NOTIFY and the old
// call goes on; should the trunk have ended the old call meanwhile (a
// transferor may hang up after the 202), the session ends with it.

// Outcomes of webtrunk_trunk_transfers_total.
const (
	// trunkTransferRefused: the REFER was refused (transfers off on the
	// trunk, the checks of a dial, no free media port); nothing was dialled.
	trunkTransferRefused = "refused"
	// trunkTransferFailed: the new call failed or the session ended first.
	trunkTransferFailed = "failed"
	// trunkTransferSucceeded: the browser talks to the new party.
	trunkTransferSucceeded = "succeeded"
)

// Warning texts of refused REFERs.
var (
	errTrunkTransferOff   = errors.New("transfers are not accepted on this trunk")
	errReferNoNumber      = errors.New("Refer-To names no number the trunk's numbering plan can read")
	errTransferInProgress = errors.New("a transfer of the call is in progress")
)

// trunkTransfer is the outcome of a trunk's transfer, handed by its
// goroutine to the session goroutine: the new call, answered, or nil when
// it failed.
type trunkTransfer struct {
	refer *sip.Refer
	call  *sip.Call
	// bridged marks the browser's transfer carried out by the gateway
	// (transferbridge.go) rather than a trunk's REFER.
	bridged bool
}

// registerTrunkTransfers adds webtrunk_trunk_transfers_total.
func (m *Metrics) registerTrunkTransfers() {
	m.TrunkTransfers = m.counterVec("webtrunk_trunk_transfers_total",
		"Transfers asked by trunks (REFER from the trunk), by outcome: refused, failed, succeeded.", "outcome")
	atZero(m.TrunkTransfers.WithLabelValues, trunkTransferRefused, trunkTransferFailed, trunkTransferSucceeded)
}

// trunkRefer handles the trunk's REFER of the session's call: refused at
// once when the trunk takes no transfers, else checked and placed in a
// goroutine of its own, whose outcome arrives on s.referred. It runs in
// the session goroutine and does not block.
func (s *session) trunkRefer(call *sip.Call, r *sip.Refer) {
	if t, ok := s.pol.cfg.Trunk(call.Trunk()); !ok || !t.Refers() || s.detached.Load() {
		s.refuseRefer(r, 603, "Decline", errTrunkTransferOff)

		return
	}
	if s.referring.Load() {
		s.refuseRefer(r, 603, "Decline", errTransferInProgress)

		return
	}
	s.referring.Store(true)
	s.awaitTrunk(true)
	s.referWG.Add(1)
	go s.runTrunkTransfer(call.Trunk(), r)
}

// awaitTrunk tells the bridge (bridge.AwaitTrunk) whether a transfer is
// placing a new trunk leg, so that the old party hanging up meanwhile does
// not stop the audio towards the browser.
func (s *session) awaitTrunk(on bool) {
	s.mu.Lock()
	b := s.bridge
	s.mu.Unlock()
	if b != nil {
		b.AwaitTrunk(on)
	}
}

// refuseRefer refuses r with code and why, counting and logging it.
func (s *session) refuseRefer(r *sip.Refer, code int, reason string, why error) {
	_ = r.Refuse(code, reason, why)
	s.g.metrics.TrunkTransfers.WithLabelValues(trunkTransferRefused).Inc()
	s.logger().Info("transfer by the trunk refused", "to", r.Target, "status", code, "error", why.Error())
}

// runTrunkTransfer checks and places the call a trunk's REFER asks for on
// trunk, and hands the outcome to the session goroutine.
func (s *session) runTrunkTransfer(trunk string, r *sip.Refer) {
	defer s.referWG.Done()
	// The buffer holds the one transfer in progress (referring stays set
	// until the session goroutine takes its outcome); should the session
	// have ended meanwhile, finish takes a call left there.
	s.referred <- trunkTransfer{refer: r, call: s.placeReferred(trunk, r)}
}

// placeReferred checks r's number as a dial of the session's user and
// calls it on trunk: the answered call, or nil once the trunk was told why
// not (a refusal, or the failure in the final NOTIFY).
func (s *session) placeReferred(trunk string, r *sip.Refer) *sip.Call {
	if r.Number == "" {
		s.refuseRefer(r, 403, "Forbidden", errReferNoNumber)

		return nil
	}
	rt, from, err := s.conn.checkTransferTarget(s, s.user, r.Number)
	if err != nil {
		s.refuseRefer(r, 403, "Forbidden", err)

		return nil
	}
	e164 := rt.E164
	rtp, err := s.g.ua.ReservePorts()
	if err != nil {
		s.refuseRefer(r, 503, "Service Unavailable", err)

		return nil
	}
	if err := r.Accept(s.ctx); err != nil {
		s.logger().Debug("transfer by the trunk: first NOTIFY", "error", err)
	}
	s.logger().Info("transferred by the trunk: calling", "to", e164, "trunk", trunk)
	call, code, reason, err := s.dialTransfer(trunk, e164, from, rtp)
	if err == nil {
		return call
	}
	s.g.metrics.TrunkTransfers.WithLabelValues(trunkTransferFailed).Inc()
	s.logger().Info("transfer by the trunk failed", "to", e164, "status", code, "error", err)
	nctx, ncancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
	if err := r.Notify(nctx, code, reason); err != nil {
		s.logger().Debug("transfer by the trunk: final NOTIFY", "error", err)
	}
	ncancel()

	return nil
}

// checkTransferTarget checks number (as the user would dial it) as a dial
// of user on session s's call: numbering plan and route, dial rules, the
// dial authorisation hook and the user's limits, in that order. A
// transfer counts as a call started; it holds no place among the user's
// calls in progress (the call it replaces holds one). It returns the
// number's route (its E.164 form and trunks) and the caller ID to present,
// or the *callError that refuses it.
func (c *wsConn) checkTransferTarget(s *session, user auth.Identity, number string) (rt route, from string, err error) {
	g := c.g
	if g.locks.locked(user.UserID) {
		return route{}, "", errUserLocked
	}
	pol := g.policy()
	id, err := pol.identity(user)
	if err != nil {
		return route{}, "", err
	}
	rt, _, err = pol.router.Route(number, id.DialRules)
	if err != nil {
		return route{}, "", err
	}
	from = s.from
	if s.dir != directionOutbound {
		from = callerID(id, rt)
	}
	if rt, from, err = c.authorizeDial(pol, id.DialRules, signaling.Dial{ID: s.id, To: number}, id.UserID, rt, from); err != nil {
		return route{}, "", err
	}
	if err := g.checkTransferLimits(pol, id.UserID, rt.E164, s.ticket != nil); err != nil {
		return route{}, "", err
	}

	return rt, from, nil
}

// dialTransfer calls e164 through trunk from the caller ID from, with rtp
// its reserved RTP port pair, within calls.ring_timeout, for a transfer,
// and records the attempt on the session. It returns the answered call,
// or the status that describes its failure (referFailure) and the error.
func (s *session) dialTransfer(trunk, e164, from string, rtp *sip.RTPConn) (*sip.Call, int, string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.pol.cfg.Calls.RingTimeout)
	defer cancel()
	start := time.Now()
	call, err := s.g.ua.Dial(ctx, sip.DialRequest{
		Trunk: trunk, To: e164, From: from, DisplayName: s.user.DisplayName, Withheld: s.withheld, RTP: rtp,
	})
	a := Attempt{Trunk: trunk, Referred: e164, Outcome: attemptAnswered, Duration: time.Since(start)}
	if err == nil {
		s.addAttempt(a)

		return call, 0, "", nil
	}
	code, reason := referFailure(err)
	a.Outcome, a.SIPCode, a.Error = attemptFailed, code, err.Error()
	s.addAttempt(a)

	return nil, code, reason, err
}

// checkTransferLimits checks a transfer of a call of user to e164
// against the user's fraud limits of pol, counting it as a call started.
// When the call holds a place among the user's calls in progress (counted,
// an outbound call) the transfer replaces it there: it is checked with
// room for one more call in progress, so that a user with
// limits.concurrent_calls 1 may transfer the one call.
func (g *Gateway) checkTransferLimits(pol *policy, user, e164 string, counted bool) error {
	lim := fraudLimits(pol.cfg.LimitsFor(user))
	if counted && lim.ConcurrentCalls > 0 {
		lim.ConcurrentCalls++
	}
	ticket, err := g.beginLimits(user, e164, lim)
	if err != nil {
		return err
	}
	g.endLimits(&ticket, 0)

	return nil
}

// referFailure is the status a failed transfer reports to the trunk in
// the final NOTIFY: the new call's failure response, 408 when it did not
// answer in time, 487 when the session ended first, 503 otherwise.
func referFailure(err error) (int, string) {
	var se *sip.StatusError
	switch {
	case errors.As(err, &se):
		return se.Code, se.Reason
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrNoProgress):
		return 408, "Request Timeout"
	case errors.Is(err, context.Canceled):
		return 487, "Request Terminated"
	default:
		return 503, "Service Unavailable"
	}
}

// adoptTransfer makes the call a trunk's transfer placed the session's
// trunk leg in place of old: the bridge carries the browser's audio to it,
// the browser is told, the trunk gets the final NOTIFY and old its BYE. It
// runs in the session goroutine.
func (s *session) adoptTransfer(old *sip.Call, tr trunkTransfer) {
	nc := tr.call
	s.referring.Store(false)
	m := nc.Media()
	s.mu.Lock()
	s.log = s.log.With("referred_sip_call_id", nc.CallID())
	b := s.bridge
	s.call, s.rtp = nc, nc.RTP()
	s.mu.Unlock()
	s.mediaRef.Store(s.since())
	s.trunkH.Store(false)
	if b != nil {
		readTrunkRTCP(b, nc.RTP())
		if _, prev, cur, err := b.ReplaceTrunk(nc.RTP(), bridge.TrunkMedia{Codec: m.Codec, EventPT: m.TelephoneEventPT}); err != nil {
			s.logger().Warn("transfer by the trunk: codec of the new call", "error", err)
		} else if prev != cur {
			s.logger().Info("trunk codec changed", "old", prev.String(), "new", cur.String())
		}
	}
	// The old leg's socket closes now, so that the downlink moves to the
	// new one at once; its dialog ends below.
	if rtp := old.RTP(); rtp != nil {
		_ = rtp.Close()
	}
	s.g.metrics.TrunkTransfers.WithLabelValues(trunkTransferSucceeded).Inc()
	s.logger().Info("transferred by the trunk", "to", nc.To())
	s.conn.send(signaling.Referred{CallID: s.id, To: nc.To()})
	s.bridgeWG.Add(1)
	go func() {
		defer s.bridgeWG.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
		defer cancel()
		if err := tr.refer.Notify(ctx, 200, "OK"); err != nil {
			s.logger().Debug("transfer by the trunk: final NOTIFY", "error", err)
		}
		if err := old.Hangup(ctx); err != nil {
			s.logger().Debug("transfer by the trunk: ending the old call", "error", err)
		}
	}()
}

// dropTransfer ends a call a trunk's transfer placed after the session
// ended, once the transfer's goroutine is done. It runs in finish.
func (s *session) dropTransfer() {
	s.referWG.Wait()
	select {
	case tr := <-s.referred:
		if tr.call == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
		defer cancel()
		_ = tr.refer.Notify(ctx, 487, "Request Terminated")
		if err := tr.call.Hangup(ctx); err != nil {
			s.logger().Debug("transfer by the trunk: ending the new call", "error", err)
		}
	default:
	}
}
