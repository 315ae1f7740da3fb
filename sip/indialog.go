package sip

import (
	"errors"
	"fmt"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// The requests of the trunk inside an established dialog: BYE, ACK, re-INVITE and UPDATE.

// admits reports whether a request inside the dialog may act on the call: it came from the
// call's trunk, an address in its AllowedSources or the one the trunk answered our INVITE from,
// over the transport family the dialog was set up on (UDP, or TCP and TLS), and over TLS when
// the dialog was (no downgrade). Anything else must not change the call's state or media.
func (c *Call) admits(req *sipmsg.Request) bool {
	tp := transportOf(req)
	if !sameFamily(tp, c.dialog.tp) || c.dialog.tp == telephony.TransportTLS && tp != telephony.TransportTLS {
		return false
	}
	ip := sourceAddr(req)
	return c.trunk.allows(ip) || c.dialog.isPeer(ip)
}

// onAck hands an ACK to the dialog, which routes it to the 2xx it acknowledges.
func (c *Call) onAck(req *sipmsg.Request) {
	if err := c.dialog.onAck(req); err != nil {
		c.log.Debug("sip ACK ignored", "error", err)
	}
}

// onBye answers a BYE from the trunk with 200 (RFC 3261 section 15.1.2) and ends the call.
func (c *Call) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if err := c.dialog.readBye(req, tx); err != nil {
		c.log.Debug("sip BYE answered by hand", "error", err)
		c.ua.respond(tx, req, 200, "OK")
	}
	cause := &HangupError{By: Remote}
	if v := headerValue(req, "Reason"); v != "" {
		cause.Protocol, cause.Cause, cause.Text = parseReason(v)
	}
	c.end(cause)
}

// onReinvite handles a re-INVITE from the trunk (RFC 3261 section 14.2): a new offer (hold,
// resume, new address) is answered and applied, a session refresh (RFC 4028) restarts the
// session timer, and an INVITE without an offer gets our current SDP as an offer whose answer
// arrives in the ACK. A failed re-INVITE leaves the session unchanged (RFC 3261 section 14.2).
func (c *Call) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	if !c.dialog.tryAcquireInvite() {
		// Our own re-INVITE is pending: glare (RFC 3261 section 14.2).
		c.ua.respond(tx, req, 491, "Request Pending")
		return
	}
	defer c.dialog.releaseInvite()
	timer, err := c.ua.negotiateSessionTimer(req)
	if err != nil {
		c.rejectWith(tx, req, err)
		return
	}
	body, offered, applyAnswer, err := c.answerOffer(req)
	if err != nil {
		c.rejectWith(tx, req, err)
		return
	}
	ack, err := c.dialog.respond2xx(tx, c.ok(req, body, timer))
	if err != nil {
		if errors.Is(err, ErrAckTimeout) {
			c.log.Warn("sip re-INVITE 2xx not acknowledged", "error", err)
			c.abort(ErrAckTimeout)
		}
		return
	}
	if !offered {
		// We made the offer in the 2xx; the answer is in the ACK (RFC 3264 section 4).
		if md, err := c.media.parse(ack.Body()); err == nil {
			applyAnswer = func() { c.applyAnswer(md) }
		} else {
			c.log.Warn("sip ACK without usable SDP answer", "error", err)
		}
	}
	if applyAnswer != nil {
		applyAnswer()
	}
	c.dialog.retarget(req.Contact())
	c.restartTimer(timer)
}

// onUpdate handles UPDATE (RFC 3311), used by trunks for session refreshes and media changes.
func (c *Call) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	timer, err := c.ua.negotiateSessionTimer(req)
	if err != nil {
		c.rejectWith(tx, req, err)
		return
	}
	var body []byte
	var apply func()
	if len(req.Body()) > 0 {
		if !c.dialog.tryAcquireInvite() {
			// An offer of ours is outstanding in a re-INVITE (RFC 3311 section 5.2).
			c.ua.respond(tx, req, 491, "Request Pending")
			return
		}
		defer c.dialog.releaseInvite()
		var offered bool
		body, offered, apply, err = c.answerOffer(req)
		if err != nil || !offered {
			c.rejectWith(tx, req, err)
			return
		}
	}
	if err := tx.Respond(c.ok(req, body, timer)); err != nil {
		c.log.Debug("sip UPDATE response failed", "error", err)
		return
	}
	if apply != nil {
		apply()
	}
	c.restartTimer(timer)
}

// ok builds the 200 to a request of the trunk inside the dialog, with our SDP when body is set,
// our Contact for the transport it came over and the negotiated session timer.
func (c *Call) ok(req *sipmsg.Request, body []byte, timer sessionTimer) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", body)
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	c.ua.addCommonHeaders(res)
	ct := c.ua.contactFor(req)
	res.AppendHeader(&ct)
	timer.addHeaders(res)
	return res
}

// answerOffer builds our SDP for a re-INVITE or UPDATE. With an offer in req it negotiates an
// answer (offered is true) and returns apply, which installs the new remote media after the
// transaction succeeded; without a body it returns our current SDP as a new offer.
func (c *Call) answerOffer(req *sipmsg.Request) (body []byte, offered bool, apply func(), err error) {
	raw := req.Body()
	if len(raw) == 0 {
		offer, err := c.media.currentOffer()
		return offer, false, nil, err
	}
	if ct := headerValue(req, "Content-Type"); ct != "" && !isSDPType(ct) {
		return nil, true, nil, ErrUnsupportedBody
	}
	md, err := c.media.parse(raw)
	if err != nil {
		return nil, true, nil, err
	}
	codec, tePT, err := c.media.negotiate(md)
	if err != nil {
		return nil, true, nil, err
	}
	answer, err := c.media.reanswer(md)
	if err != nil {
		return nil, true, nil, err
	}
	return answer, true, func() {
		if old, cur, err := c.media.applyOffer(md, codec, tePT); err == nil {
			c.reportMediaChange(old, cur)
		}
	}, nil
}

// applyAnswer installs the trunk's answer to an offer of ours and reports what changed.
func (c *Call) applyAnswer(md MediaDescription) {
	old, cur, err := c.media.applyAnswer(md)
	if err != nil {
		c.log.Warn("sip answer without common codec", "error", err)
		return
	}
	c.reportMediaChange(old, cur)
}

// rejectWith answers a failed in-dialog offer with the status the error maps to.
func (c *Call) rejectWith(tx sipmsg.ServerTransaction, req *sipmsg.Request, err error) {
	if err == nil {
		err = &StatusError{Code: 400, Reason: "Bad Request"}
	}
	code, reason := statusFor(err)
	c.ua.respond(tx, req, code, reason, c.ua.rejectionHeaders(err)...)
}

// rejectionHeaders explains a refusal: Min-SE for a session interval below ours (RFC 4028
// section 6) and a Warning with err's text.
func (ua *UA) rejectionHeaders(err error) []sipmsg.Header {
	var extra []sipmsg.Header
	var tooSmall *intervalTooSmallError
	if errors.As(err, &tooSmall) {
		extra = append(extra, sipmsg.NewHeader("Min-SE", itoa(int(tooSmall.minSE.Seconds()))))
	}
	return append(extra, warning(ua.cfg.PublicHost, err))
}

// warning builds a Warning header (RFC 3261 section 20.43, code 399 miscellaneous) explaining err;
// the text may quote what the peer sent, so it passes sanitizeText.
func warning(host string, err error) sipmsg.Header {
	text := sanitizeText(err.Error())
	return sipmsg.NewHeader("Warning", fmt.Sprintf("399 %s \"%s\"", host, text))
}
