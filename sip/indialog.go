package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// checkCSeq enforces RFC 3261 section 12.2.2: a request inside the dialog with a CSeq lower than
// the last one from the peer is answered 500. It returns false after responding.
func (c *Call) checkCSeq(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	cseq := req.CSeq()
	if cseq == nil {
		c.ua.respond(tx, req, 400, "Bad Request")
		return false
	}
	c.mu.Lock()
	stale := c.remoteCSeq != 0 && cseq.SeqNo <= c.remoteCSeq
	if !stale {
		c.remoteCSeq = cseq.SeqNo
	}
	c.mu.Unlock()
	if stale {
		c.ua.respond(tx, req, 500, "Server Internal Error", sipmsg.NewHeader("Retry-After", "1"))
		return false
	}
	return true
}

// onAck delivers an ACK to whoever waits for it: a re-INVITE answer of ours, or sipgo's
// server session for the initial 2xx (which then confirms the dialog).
func (c *Call) onAck(req *sipmsg.Request) {
	cseq := req.CSeq()
	if cseq == nil {
		return
	}
	c.mu.Lock()
	ch, ok := c.ackWaits[cseq.SeqNo]
	if ok {
		delete(c.ackWaits, cseq.SeqNo)
	}
	c.mu.Unlock()
	if ok {
		ch <- req
		return
	}
	if s, isServer := c.dlg.(*sipgo.DialogServerSession); isServer {
		c.mu.Lock()
		if c.ackBody == nil {
			c.ackBody = req.Body()
		}
		c.mu.Unlock()
		if err := s.ReadAck(req, nil); err != nil {
			c.log.Debug("sip ACK ignored", "error", err)
		}
	}
}

// onBye answers a BYE from the trunk with 200 (RFC 3261 section 15.1.2) and ends the call.
func (c *Call) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if err := c.dlg.ReadBye(req, tx); err != nil {
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
	if !c.checkCSeq(req, tx) {
		return
	}
	if !c.tryAcquireReinvite() {
		// Our own re-INVITE is pending: glare (RFC 3261 section 14.2).
		c.ua.respond(tx, req, 491, "Request Pending")
		return
	}
	defer c.releaseReinvite()
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
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	c.addCommonHeaders(res)
	ct := c.ua.contactFor(req)
	res.AppendHeader(&ct)
	timer.addHeaders(res)
	cseq := req.CSeq().SeqNo
	ack, err := c.respond2xx(tx, res, cseq, c.ackWait(cseq))
	if err != nil {
		if errors.Is(err, ErrAckTimeout) {
			c.log.Warn("sip re-INVITE 2xx not acknowledged", "error", err)
			ctx, cancel := context.WithTimeout(context.Background(), c.ua.cfg.HangupTimeout)
			defer cancel()
			_ = c.hangup(ctx, ErrAckTimeout)
		}
		return
	}
	if !offered {
		// We made the offer in the 2xx; the answer is in the ACK (RFC 3264 section 4).
		if md, err := ParseSDP(ack.Body()); err == nil {
			applyAnswer = func() { c.applyRemote(md) }
		} else {
			c.log.Warn("sip ACK without usable SDP answer", "error", err)
		}
	}
	if applyAnswer != nil {
		applyAnswer()
	}
	if ct := req.Contact(); ct != nil {
		c.mu.Lock()
		c.target = *ct.Address.Clone()
		c.mu.Unlock()
	}
	c.restartTimer(timer)
}

// onUpdate handles UPDATE (RFC 3311), used by trunks for session refreshes and media changes.
func (c *Call) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.checkCSeq(req, tx) {
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
		if !c.tryAcquireReinvite() {
			// An offer of ours is outstanding in a re-INVITE (RFC 3311 section 5.2).
			c.ua.respond(tx, req, 491, "Request Pending")
			return
		}
		defer c.releaseReinvite()
		var offered bool
		body, offered, apply, err = c.answerOffer(req)
		if err != nil || !offered {
			c.rejectWith(tx, req, err)
			return
		}
	}
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", body)
	if body != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	c.addCommonHeaders(res)
	ct := c.ua.contactFor(req)
	res.AppendHeader(&ct)
	timer.addHeaders(res)
	if err := tx.Respond(res); err != nil {
		c.log.Debug("sip UPDATE response failed", "error", err)
		return
	}
	if apply != nil {
		apply()
	}
	c.restartTimer(timer)
}

// answerOffer builds our SDP for a re-INVITE or UPDATE. With an offer in req it negotiates an
// answer (offered is true) and returns apply, which installs the new remote media after the
// transaction succeeded; without a body it returns our current SDP as a new offer.
func (c *Call) answerOffer(req *sipmsg.Request) (body []byte, offered bool, apply func(), err error) {
	raw := req.Body()
	if len(raw) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		offer, err := c.reofferLocked(c.media.LocalHold)
		return offer, false, nil, err
	}
	if ct := headerValue(req, "Content-Type"); ct != "" && !isSDPType(ct) {
		return nil, true, nil, ErrUnsupportedBody
	}
	md, err := ParseSDP(raw)
	if err != nil {
		return nil, true, nil, err
	}
	codec, tePT, err := Negotiate(md, c.trunk.Codecs)
	if err != nil {
		return nil, true, nil, err
	}
	c.mu.Lock()
	p := c.sdpParams()
	answer, err := BuildAnswer(md, p)
	if err == nil && !sameSDP(answer, c.lastSDP) && c.lastSDP != nil {
		// A changed description needs a higher o= version (RFC 3264 section 8).
		c.sdpVersion++
		p.SessionVersion = c.sdpVersion
		answer, err = BuildAnswer(md, p)
	}
	if err == nil {
		c.lastSDP = answer
	}
	c.mu.Unlock()
	if err != nil {
		return nil, true, nil, err
	}
	return answer, true, func() { c.applyNegotiated(md, codec, tePT) }, nil
}

// applyRemote installs an answer to our offer.
func (c *Call) applyRemote(md MediaDescription) {
	codec, tePT, err := Negotiate(md, c.trunk.Codecs)
	if err != nil {
		c.log.Warn("sip answer without common codec", "error", err)
		return
	}
	c.applyNegotiated(md, codec, tePT)
}

// applyNegotiated sets the new media and reports hold, resume or a changed address, codec or
// telephone-event payload type.
func (c *Call) applyNegotiated(md MediaDescription, codec telephony.Codec, tePT uint8) {
	old, cur := c.setMedia(md, codec, tePT)
	switch {
	case cur.Held && !old.Held:
		c.emit(DialogEvent{Kind: EventHold, Media: cur})
	case !cur.Held && old.Held:
		c.emit(DialogEvent{Kind: EventResume, Media: cur})
	case !cur.Held && (cur.Remote.Addr != old.Remote.Addr || cur.Codec != old.Codec || cur.TelephoneEventPT != old.TelephoneEventPT):
		c.emit(DialogEvent{Kind: EventMediaChanged, Media: cur})
	}
}

// rejectWith answers a failed in-dialog offer with the status the error maps to.
func (c *Call) rejectWith(tx sipmsg.ServerTransaction, req *sipmsg.Request, err error) {
	if err == nil {
		err = &StatusError{Code: 400, Reason: "Bad Request"}
	}
	code, reason := statusFor(err)
	var extra []sipmsg.Header
	var tooSmall *intervalTooSmallError
	if errors.As(err, &tooSmall) {
		extra = append(extra, sipmsg.NewHeader("Min-SE", itoa(int(tooSmall.minSE.Seconds()))))
	}
	extra = append(extra, warning(c.ua.cfg.PublicHost, err))
	c.ua.respond(tx, req, code, reason, extra...)
}

// warning builds a Warning header (RFC 3261 section 20.43, code 399 miscellaneous) explaining err.
func warning(host string, err error) sipmsg.Header {
	text := err.Error()
	text = string(bytes.ReplaceAll([]byte(text), []byte(`"`), []byte("'")))
	return sipmsg.NewHeader("Warning", fmt.Sprintf("399 %s \"%s\"", host, text))
}

func (c *Call) addCommonHeaders(m sipmsg.Message) {
	switch m.(type) {
	case *sipmsg.Response:
		m.AppendHeader(sipmsg.NewHeader("Server", c.ua.cfg.UserAgent))
	default:
		m.AppendHeader(sipmsg.NewHeader("User-Agent", c.ua.cfg.UserAgent))
	}
	m.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	m.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
}

// contactFor returns our Contact for the transport req arrived on.
func (ua *UA) contactFor(req *sipmsg.Request) sipmsg.ContactHeader {
	tp := transportOf(req)
	ua.mu.Lock()
	b := ua.listeners[tp]
	ua.mu.Unlock()
	user := ""
	if to := req.To(); to != nil {
		user = to.Address.User
	}
	if b == nil {
		return sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: ua.cfg.PublicHost}}
	}
	return ua.contact(user, b)
}

// sameSDP compares two descriptions ignoring the o= line, whose version is what changes.
func sameSDP(a, b []byte) bool {
	strip := func(s []byte) []byte {
		var out []byte
		for _, line := range bytes.Split(s, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("o=")) {
				continue
			}
			out = append(out, line...)
		}
		return out
	}
	return bytes.Equal(strip(a), strip(b))
}

func isSDPType(ct string) bool {
	mt, _, _ := bytes.Cut([]byte(ct), []byte(";"))
	return bytes.EqualFold(bytes.TrimSpace(mt), []byte("application/sdp"))
}
