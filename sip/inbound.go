package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// IncomingCall is an inbound INVITE from a trunk that has been accepted for routing: its source
// is allowed and within its INVITE rate, its SDP offer parsed and a codec chosen, and 100 Trying
// sent. It holds no RTP ports yet: Ring or Answer binds them, so that routing (and refusing) a
// call costs none. The receiver rings it, answers it or rejects it; if it does none of these
// within Config.RingTimeout the trunk gets 480. All methods are safe for concurrent use.
type IncomingCall struct {
	ua    *UA
	call  *Call // becomes the established call on Answer
	sess  *sipgo.DialogServerSession
	tx    sipmsg.ServerTransaction
	offer MediaDescription
	// lateOffer: the INVITE had no SDP; Answer offers and reads the answer from the ACK.
	lateOffer bool
	codec     telephony.Codec
	tePT      uint8
	timer     sessionTimer
	remoteTag string // the From tag of the INVITE
	log       *slog.Logger
	// elsewhere is set when the trunk's CANCEL said the call was answered elsewhere (RFC
	// 3326), before sipgo ends the INVITE transaction.
	elsewhere atomic.Bool

	portsMu sync.Mutex // serialises bindPorts

	mu        sync.Mutex
	finalized bool
	cause     error
	done      chan struct{}
	closeOnce sync.Once
}

// From returns the calling number, E.164 when the trunk's numbering plan could normalise it,
// otherwise the user part of the From URI.
func (ic *IncomingCall) From() string { return ic.call.from }

// FromDisplayName returns the display name of the From header ("" when absent), unquoted and
// made safe by DisplayName.
func (ic *IncomingCall) FromDisplayName() string {
	if f := ic.sess.InviteRequest.From(); f != nil {
		return DisplayName(unquoteDisplayName(f.DisplayName))
	}
	return ""
}

// To returns the called number (DID) from the Request-URI (the To header when the Request-URI
// has no user part), E.164 when it could be normalised.
func (ic *IncomingCall) To() string { return ic.call.to }

// Trunk returns the name of the trunk the INVITE came from.
func (ic *IncomingCall) Trunk() string { return ic.call.trunk.Name }

// CallID returns the SIP Call-ID.
func (ic *IncomingCall) CallID() string { return ic.call.dialog.callID }

// Codec returns the codec that the answer will select (first of the trunk's order offered, RFC
// 3264 section 6.1); the zero Codec for a late offer (INVITE without SDP), where the trunk picks
// from our offer in its ACK and Call.Media tells the outcome.
func (ic *IncomingCall) Codec() telephony.Codec { return ic.codec }

// Done is closed when the incoming call stops ringing: answered, rejected, cancelled by the
// trunk (CANCEL, RFC 3261 section 9.2), timed out, or ended by shutdown. Cause says which.
func (ic *IncomingCall) Done() <-chan struct{} { return ic.done }

// Cause returns why the incoming call stopped ringing: nil while ringing or after Answer,
// ErrCanceled, ErrRingTimeout, ErrShuttingDown, or a *StatusError carrying the Reject code.
func (ic *IncomingCall) Cause() error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.cause
}

// Ring binds the call's RTP port pair and sends 180 Ringing, reliably (RFC 3262 section 3, see
// ringReliably) when the INVITE and the trunk's PRACKMode call for it. It returns ErrCallFinalized after a
// final response, and ErrNoPorts when no pair is free, after answering the trunk 503 Service
// Unavailable with Retry-After (RFC 3261 section 21.5.4) and ending the call.
func (ic *IncomingCall) Ring() error {
	ic.mu.Lock()
	fin := ic.finalized
	ic.mu.Unlock()
	if fin {
		return ErrCallFinalized
	}
	if err := ic.bindPorts(); err != nil {
		return err
	}
	if ic.call.prack != nil {
		return ic.ringReliably()
	}
	return ic.sess.Respond(180, "Ringing", nil, sipmsg.NewHeader("Server", ic.ua.cfg.UserAgent))
}

// noPortsRetryAfter is the Retry-After of the 503 an INVITE gets when no RTP port pair is free.
const noPortsRetryAfter = 5 * time.Second

// bindPorts binds the call's RTP port pair unless it has one. When none is free the trunk gets
// 503 with Retry-After and the call ends; the error is ErrNoPorts (or ErrCallFinalized when the
// call had a final response meanwhile).
func (ic *IncomingCall) bindPorts() error {
	ic.portsMu.Lock()
	defer ic.portsMu.Unlock()
	if ic.call.media.attached() {
		return nil
	}
	err := ic.call.attachRTP(nil)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNoPorts) {
		ic.log.Warn("sip incoming call refused: no free RTP port")
		if rerr := ic.RejectRetryAfter(503, "Service Unavailable", noPortsRetryAfter); errors.Is(rerr, ErrCallFinalized) {
			return rerr
		}
		return err
	}
	return err
}

// Reject answers with a final failure response (code 300..699, e.g. 486 Busy Here, 480, 603
// Decline) and releases the call's resources. It returns ErrCallFinalized when a final response
// was already sent, and an error for a code outside 300..699.
func (ic *IncomingCall) Reject(code int, reason string) error {
	return ic.reject(code, reason)
}

// RejectRetryAfter is Reject with a Retry-After header (RFC 3261 section 20.33) that tells the
// trunk after how many seconds to try again (delta-seconds): after is rounded up to whole
// seconds, a negative after counts as 0. It suits 503 Service Unavailable from an overloaded
// server (RFC 3261 section 21.5.4); RFC 3261 also allows it with 404, 413, 480, 486, 500, 600 and
// 603. It returns the errors of Reject.
func (ic *IncomingCall) RejectRetryAfter(code int, reason string, after time.Duration) error {
	secs := (max(after, 0) + time.Second - 1) / time.Second
	return ic.reject(code, reason, sipmsg.NewHeader("Retry-After", strconv.FormatInt(int64(secs), 10)))
}

// reject sends a final failure response with extra headers and ends the call.
func (ic *IncomingCall) reject(code int, reason string, extra ...sipmsg.Header) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("%w: reject code %d outside 300..699", ErrBadStatus, code)
	}
	if !ic.finalize(&StatusError{Code: code, Reason: reason}) {
		return ErrCallFinalized
	}
	err := ic.respondFinal(code, reason, extra...)
	ic.call.end(ic.Cause())
	ic.close()
	return err
}

// respondFinal sends a final failure response through the transaction, which retransmits it
// and absorbs the ACK (RFC 3261 section 17.2.1), without waiting for that ACK.
func (ic *IncomingCall) respondFinal(code int, reason string, extra ...sipmsg.Header) error {
	res := sipmsg.NewResponseFromRequest(ic.sess.InviteRequest, code, reason, nil)
	res.AppendHeader(sipmsg.NewHeader("Server", ic.ua.cfg.UserAgent))
	for _, h := range extra {
		res.AppendHeader(h)
	}
	return ic.tx.Respond(res)
}

// Answer sends 200 OK with the SDP answer (RFC 3264 section 6), retransmits it until the ACK
// arrives (RFC 3261 section 13.3.1.4) and returns the established Call, whose RTP socket already
// sends to the trunk's offered address. ctx is checked before the answer is sent. Errors:
// ErrNoPorts (the trunk got 503, see Ring), ErrCallFinalized, the call's cause when the trunk cancelled first, ErrAckTimeout when no ACK
// came within 64*T1 (the call is then ended with a BYE), ErrShuttingDown.
func (ic *IncomingCall) Answer(ctx context.Context) (*Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ic.bindPorts(); err != nil {
		return nil, err
	}
	if !ic.finalize(nil) {
		if c := ic.Cause(); c != nil {
			return nil, c
		}
		return nil, ErrCallFinalized
	}
	defer ic.close()
	c := ic.call
	var answer []byte
	var err error
	if ic.lateOffer {
		answer, err = c.media.offer()
	} else {
		answer, err = c.media.answer(ic.offer)
	}
	c.timer.set(ic.timer)
	if err != nil {
		ic.failAnswer(err)
		return nil, err
	}
	if !ic.lateOffer {
		_, _, _ = c.media.applyOffer(ic.offer, ic.codec, ic.tePT) // the answer accepted these keys
	}
	res := sipmsg.NewResponseFromRequest(ic.sess.InviteRequest, 200, "OK", answer)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	c.ua.addCommonHeaders(res)
	ic.timer.addHeaders(res)

	c.markAnswered() // before the 2xx: a BYE racing the ACK must find an answered call
	c.ua.addDialog(c.dialog.key, c)
	err = ic.sess.WriteResponse(res)
	select {
	case <-c.done:
		// A BYE or shutdown ended the call while we waited for the ACK.
		return nil, c.Err()
	default:
	}
	if err != nil {
		if errors.Is(err, sipmsg.ErrTransactionCanceled) || ic.sess.Context().Err() != nil && ic.sess.LoadState() < sipmsg.DialogStateEstablished {
			ic.mu.Lock()
			cause := ic.cancelCause()
			ic.cause = cause
			ic.mu.Unlock()
			c.end(cause)
			return nil, cause
		}
		ic.log.Warn("sip 2xx not acknowledged, sending BYE", "error", err)
		c.abort(ErrAckTimeout)
		return nil, ErrAckTimeout
	}
	if ic.lateOffer {
		if err := c.applyAckAnswer(); err != nil {
			ic.log.Warn("sip late offer not answered in ACK, sending BYE", "error", err)
			c.abort(err)
			return nil, err
		}
	}
	c.restartTimer(ic.timer)
	if !c.establish() {
		return nil, ErrShuttingDown
	}
	return c, nil
}

// failAnswer answers 500 after an internal failure to build the answer.
func (ic *IncomingCall) failAnswer(err error) {
	code, reason := statusFor(err)
	_ = ic.respondFinal(code, reason, warning(ic.ua.cfg.PublicHost, err))
	ic.call.end(err)
}

// finalize marks the call as having its final response decided; false if it already had one.
func (ic *IncomingCall) finalize(cause error) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.finalized {
		return false
	}
	ic.finalized = true
	ic.cause = cause
	return true
}

func (ic *IncomingCall) close() { ic.closeOnce.Do(func() { close(ic.done) }) }

// overInviteRate charges the INVITE to its source's bucket (sip.invite_rate) and, when the
// bucket is empty, answers 503 with Retry-After (RFC 3261 section 21.5.4), counts and logs it,
// and reports true.
func (ua *UA) overInviteRate(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	ok, wait := ua.invites.allow(sourceAddr(req), time.Now())
	if ok {
		return false
	}
	ua.counters.inviteRateLimited.Add(1)
	ua.refusals.refused(sourceAddr(req), "sip INVITE over the per-source rate", "source", req.Source(),
		"rate_per_s", ua.cfg.InviteRate, "burst", ua.cfg.InviteBurst)
	secs := (wait + time.Second - 1) / time.Second
	ua.respond(tx, req, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", strconv.FormatInt(int64(secs), 10)))
	return true
}

// onNewInvite handles an out-of-dialog INVITE: source check, per-source rate, limits, SDP
// offer, then the Serve handler (no RTP port is bound before it, see IncomingCall); it returns
// once the call has a final response.
func (ua *UA) onNewInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	t, byDigest := ua.inboundTrunk(req, tx)
	if t == nil {
		return
	}
	if !byDigest && ua.overInviteRate(req, tx) { // a digest INVITE was counted before its check
		return
	}
	if !ua.enter() {
		ua.respond(tx, req, 503, "Service Unavailable")
		return
	}
	defer ua.leave()
	if ua.draining.Load() {
		ua.respond(tx, req, 503, "Service Unavailable")
		return
	}
	ic, err := ua.acceptInvite(t, req, tx)
	if err != nil {
		return
	}
	if byDigest {
		// The trunk sends from changing addresses: its dialog trusts the one that authenticated.
		ic.call.dialog.setPeer(sourceAddr(req))
	}
	ua.trackRinging(ic, true)
	defer ua.trackRinging(ic, false)
	ic.log.Info("sip incoming call", "from", ic.From(), "to", ic.To())
	ua.handler(ic)

	ring := time.NewTimer(ua.cfg.RingTimeout)
	defer ring.Stop()
	select {
	case <-ic.done:
	case <-ic.sess.Context().Done():
		if cause := ic.cancelCause(); ic.finalize(cause) {
			ic.log.Info("sip incoming call cancelled", "answered_elsewhere", ic.elsewhere.Load())
			ic.call.end(cause)
			ic.close()
		}
	case <-ring.C:
		if ic.finalize(ErrRingTimeout) {
			_ = ic.respondFinal(480, "Temporarily Unavailable")
			ic.call.end(ErrRingTimeout)
			ic.close()
		}
	case <-ua.stop:
		if ic.finalize(ErrShuttingDown) {
			_ = ic.respondFinal(503, "Service Unavailable")
			ic.call.end(ErrShuttingDown)
			ic.close()
		}
	}
	<-ic.done
}

// acceptInvite validates an INVITE and builds the IncomingCall; on failure it has already sent
// the final response (400, 415, 422, 488 or 503) and returns the error.
func (ua *UA) acceptInvite(t *trunk, req *sipmsg.Request, tx sipmsg.ServerTransaction) (*IncomingCall, error) {
	reject := func(err error) error {
		code, reason := statusFor(err)
		extra := ua.rejectionHeaders(err)
		if code == 415 {
			extra = append(extra, sipmsg.NewHeader("Accept", "application/sdp"))
		}
		ua.log.Info("sip INVITE rejected", "code", code, "source", req.Source(), "error", err)
		ua.respond(tx, req, code, reason, extra...)
		return err
	}
	if req.Contact() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		return nil, reject(&StatusError{Code: 400, Reason: "Bad Request", Err: fmt.Errorf("%w: INVITE lacks Contact, From, To, CSeq or Call-ID", ErrBadRequest)})
	}
	dua, err := ua.dialogUA(transportOf(req), req.To().Address.User)
	if err != nil {
		return nil, reject(&StatusError{Code: 503, Reason: "Service Unavailable", Err: err})
	}
	body := req.Body()
	if ct := headerValue(req, "Content-Type"); len(body) > 0 && ct != "" && !isSDPType(ct) {
		return nil, reject(fmt.Errorf("%w: %q", ErrUnsupportedBody, ct))
	}
	timer, err := ua.negotiateSessionTimer(req)
	if err != nil {
		return nil, reject(err)
	}
	var offer MediaDescription
	var codec telephony.Codec
	var tePT uint8
	lateOffer := len(body) == 0 // we offer in the 2xx, the answer comes in the ACK (RFC 3261 section 13.2.1)
	if !lateOffer {
		if offer, err = parseSDP(body, t.MediaEncryption.enabled()); err != nil {
			return nil, reject(err)
		}
		if codec, tePT, err = Negotiate(offer, t.Codecs); err != nil {
			return nil, reject(err)
		}
		var none [len(cryptoSuites)]masterKey
		if _, _, err = chooseOfferCrypto(t.MediaEncryption, offer, &none); err != nil {
			return nil, reject(err)
		}
	}
	reliable, ok := ua.check100rel(t, req, tx)
	if !ok {
		return nil, ErrBadRequest
	}
	if !t.reserve() {
		return nil, reject(ErrTooManyCalls)
	}
	c := newCall(ua, t, Inbound, transportOf(req))
	if reliable {
		c.prack = newPRACKServer(req.CSeq().SeqNo)
	}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		c.end(err)
		return nil, reject(&StatusError{Code: 400, Reason: "Bad Request", Err: err})
	}
	c.dialog.sess = sess
	c.dialog.callID = req.CallID().Value()
	c.from = userNumber(t, req.From().Address.User)
	user := req.Recipient.User
	if user == "" {
		user = req.To().Address.User
	}
	c.to = userNumber(t, user)
	local, _ := sess.InviteRequest.To().Params.Get("tag")
	remote, _ := req.From().Params.Get("tag")
	c.dialog.key = dialogKey(c.dialog.callID, local, remote)
	c.dialog.setTarget(&req.Contact().Address)
	c.dialog.setRemoteCSeq(req.CSeq().SeqNo)
	c.log = c.log.With("call_id", c.dialog.callID)
	if err := sess.Respond(100, "Trying", nil); err != nil {
		c.end(err)
		return nil, err
	}
	return &IncomingCall{
		ua: ua, call: c, sess: sess, tx: tx, offer: offer, lateOffer: lateOffer, codec: codec, tePT: tePT, timer: timer,
		remoteTag: remote, log: c.log, done: make(chan struct{}),
	}, nil
}

// cancelCause is the cause of a call the trunk cancelled: ErrCanceled, joined with
// ErrAnsweredElsewhere when the CANCEL said so.
func (ic *IncomingCall) cancelCause() error {
	if ic.elsewhere.Load() {
		return errors.Join(ErrCanceled, ErrAnsweredElsewhere)
	}
	return ErrCanceled
}

// answeredElsewhere reports whether the Reason headers of a CANCEL say that the call was
// answered elsewhere: one reason of protocol SIP with cause 200 (RFC 3326 section 2, "Reason:
// SIP ;cause=200 ;text=\"Call completed elsewhere\"").
func answeredElsewhere(req *sipmsg.Request) bool {
	for _, h := range req.GetHeaders("Reason") {
		for _, reason := range strings.Split(h.Value(), ",") {
			protocol, params, _ := strings.Cut(reason, ";")
			if !strings.EqualFold(strings.TrimSpace(protocol), "SIP") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				name, value, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(name), "cause") && strings.TrimSpace(value) == "200" {
					return true
				}
			}
		}
	}
	return false
}

// trackRinging adds a ringing incoming call to the table CANCELs are screened against, or removes it.
func (ua *UA) trackRinging(ic *IncomingCall, add bool) {
	key := ringingKey(ic.call.dialog.callID, ic.remoteTag)
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if add {
		ua.ringing[key] = ic
	} else if ua.ringing[key] == ic {
		delete(ua.ringing, key)
	}
}

// userNumber normalises a URI user part from the trunk to E.164 with the trunk's plan, or
// returns it unchanged.
func userNumber(t *trunk, user string) string {
	if e, err := t.Numbering.FromTrunk(user); err == nil {
		return e
	}
	return user
}

// applyAckAnswer installs the SDP answer the ACK carried for our offer in the 2xx.
func (c *Call) applyAckAnswer() error {
	md, err := c.media.parse(c.dialog.lateAnswer())
	if err == nil {
		_, _, err = c.media.applyAnswer(md)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoAnswerInAck, err)
	}
	return nil
}
