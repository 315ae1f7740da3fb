package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// A trunk's REFER of a call (a blind transfer from the carrier's or PBX's side, RFC 3515; RFC
// 5589 section 6): the trunk, the transferor, asks us, the transferee, to call someone else
// in the call's place. The call reports it as an EventRefer carrying a *Refer, which its owner
// answers: Refuse (the call goes on untouched) or Accept (202 Accepted and the first NOTIFY of
// the implicit "refer" subscription, RFC 3515 section 2.4.4), then Notify with the progress of
// the new call in message/sipfrag bodies (RFC 3420), the last one final.

// Warning texts of the refusals this package gives itself.
var (
	// errReferTarget: a REFER without exactly one Refer-To (RFC 3515 section 2.4.1).
	errReferTarget = errors.New("a REFER needs exactly one Refer-To")
	// errReferURI: a Refer-To that is not a SIP, SIPS or tel URI with a user part.
	errReferURI = errors.New("Refer-To must be a sip, sips or tel URI naming a number")
	// errReferReplaces: an attended transfer (Refer-To with Replaces, RFC 3891).
	errReferReplaces = errors.New("attended transfer (Replaces) is not supported")
	// errReferPending: a second REFER while the first one's new call is being placed.
	errReferPending = errors.New("a transfer of the call is in progress")
	// errReferUnanswered: the call's owner did not answer the REFER in time.
	errReferUnanswered = errors.New("the transfer request was not handled in time")
)

// ErrReferAnswered is returned by Refer.Accept and Refer.Refuse once the REFER was answered.
var ErrReferAnswered = errors.New("sip: the REFER was already answered")

// referAnswerTimeout bounds the time the call's owner takes to answer a REFER; past it the
// REFER is refused with 500, well within the transferor's Timer F (64*T1, 32 s).
const referAnswerTimeout = 10 * time.Second

// maxLoggedReferTo bounds the Refer-To logged and reported, bytes.
const maxLoggedReferTo = 256

// referNotifyExpires is the Subscription-State expiry of the non-final NOTIFYs, seconds (RFC
// 3515 section 2.4.4; the subscription ends with the final NOTIFY long before).
const referNotifyExpires = 180

// Refer is a trunk's request to transfer an established call (RFC 3515): the number to call
// and the means to answer the REFER and report on the new call. Accept or Refuse must be
// called once, within 10 seconds, after which the REFER is refused with 500. Its methods may
// be called from any goroutine.
type Refer struct {
	// Number is the transfer target in E.164 (telephony.IsE164) when the Refer-To URI's user
	// part reads as a number of the trunk's numbering plan (NumberPlan.FromTrunk); "" when it
	// does not (an extension, a name).
	Number string
	// Target is the Refer-To URI's user part as the trunk sent it, made safe to log, at most
	// 256 bytes.
	Target string
	// ReferredBy is the Referred-By header's value (RFC 3892) made safe to log, "" when absent.
	ReferredBy string

	call  *Call
	req   *sipmsg.Request
	tx    sipmsg.ServerTransaction
	event string // the NOTIFYs' Event value: "refer;id=<CSeq of the REFER>"
	noSub bool   // Refer-Sub: false (RFC 4488): no NOTIFYs

	mu       sync.Mutex
	answered bool
	accepted bool
	final    bool
	timer    *time.Timer
}

// referIn is the call's transfer asked by the trunk: one at a time.
type referIn struct {
	mu      sync.Mutex
	pending *Refer
}

// onRefer answers a REFER. Inside a dialog, once it passed the dialog's source check, it is
// the call's; outside a dialog it is a method this user agent does not offer: 405 with Allow,
// after the trunks' source check (onNoRoute).
func (ua *UA) onRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); !inDialog {
		ua.onNoRoute(req, tx)
		return
	}
	if c := ua.dialogOf(req, tx); c != nil {
		c.onRefer(req, tx)
	}
}

// onRefer checks a REFER of the call and reports it as EventRefer. This package refuses
// itself: a REFER without exactly one Refer-To, or with one that names no number, with 400
// (RFC 3515 section 2.4.1); an attended transfer (Replaces, RFC 3891), a REFER before the call
// was answered or while another is in progress with 603 Decline and a Warning; a REFER that
// cannot be reported (the event queue is full) with 503. Each refusal leaves the call as it
// was.
func (c *Call) onRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	r, code, err := c.readRefer(req, tx)
	if err != nil {
		c.ua.respond(tx, req, code, statusText(code), warning(c.ua.cfg.PublicHost, err))
		c.log.Info("sip REFER refused", "status", code, "error", err.Error())
		return
	}
	c.referIn.mu.Lock()
	busy := c.referIn.pending != nil
	if !busy {
		c.referIn.pending = r
	}
	c.referIn.mu.Unlock()
	if busy {
		c.ua.respond(tx, req, 603, "Decline", warning(c.ua.cfg.PublicHost, errReferPending))
		c.log.Info("sip REFER refused", "status", 603, "error", errReferPending.Error())
		return
	}
	r.timer = time.AfterFunc(referAnswerTimeout, func() {
		if r.refuse(500, errReferUnanswered) == nil {
			c.log.Warn("sip REFER not answered in time", "timeout", referAnswerTimeout)
		}
	})
	c.log.Info("sip REFER from the trunk", "refer_to", r.Target, "referred_by", r.ReferredBy)
	select {
	case c.events <- DialogEvent{Kind: EventRefer, Refer: r}:
	default:
		c.dropped.Add(1)
		_ = r.refuse(503, errReferUnanswered)
	}
}

// readRefer reads the transfer a REFER asks for, or returns the status code and the Warning
// text of its refusal.
func (c *Call) readRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) (*Refer, int, error) {
	if n := len(req.GetHeaders("Refer-To")); n != 1 {
		return nil, 400, errReferTarget
	}
	if err := c.established(); err != nil {
		return nil, 603, err
	}
	user, replaces, err := referTarget(headerValue(req, "Refer-To"))
	if err != nil {
		return nil, 400, err
	}
	if replaces {
		return nil, 603, errReferReplaces
	}
	r := &Refer{
		Target:     truncate(sanitizeText(user), maxLoggedReferTo),
		ReferredBy: truncate(sanitizeText(headerValue(req, "Referred-By")), maxLoggedReferTo),
		call:       c, req: req, tx: tx,
		noSub: strings.EqualFold(strings.TrimSpace(headerValue(req, "Refer-Sub")), "false"),
	}
	if e164, err := c.trunk.Numbering.FromTrunk(user); err == nil {
		r.Number = e164
	}
	r.event = "refer"
	if cseq := req.CSeq(); cseq != nil {
		r.event += ";id=" + strconv.FormatUint(uint64(cseq.SeqNo), 10)
	}
	return r, 0, nil
}

// referTarget returns the user part of a Refer-To value (a name-addr or addr-spec, RFC 3515
// section 2.1) with a sip, sips or tel URI, and whether the URI carries a Replaces header (RFC
// 3891 section 3). Anything else wraps errReferURI.
func referTarget(v string) (user string, replaces bool, err error) {
	v = strings.TrimSpace(v)
	if addr, ok := strings.CutPrefix(strings.Trim(v, "<>"), "tel:"); ok {
		user, _, _ = strings.Cut(addr, ";")
		user, _, _ = strings.Cut(user, "?")
		if user == "" {
			return "", false, errReferURI
		}
		return user, false, nil
	}
	var uri sipmsg.Uri
	params := sipmsg.NewParams()
	if _, err := sipmsg.ParseAddressValue(v, &uri, &params); err != nil || uri.User == "" {
		return "", false, errReferURI
	}
	if s := strings.ToLower(uri.Scheme); s != "sip" && s != "sips" {
		return "", false, errReferURI
	}
	if uri.Headers != nil {
		_, replaces = uri.Headers.Get("Replaces")
	}
	return uri.User, replaces, nil
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// statusText is the reason phrase of the statuses this file sends.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	default:
		return "Decline"
	}
}

// Refuse answers the REFER with code (400-699) and reason, with a Warning carrying why (RFC
// 3261 section 20.43) when it is not nil; the call goes on untouched and another REFER may
// come. It returns ErrReferAnswered when the REFER was already answered.
func (r *Refer) Refuse(code int, reason string, why error) error {
	return r.answer(func() {
		extra := []sipmsg.Header{}
		if why != nil {
			extra = append(extra, warning(r.call.ua.cfg.PublicHost, why))
		}
		r.call.ua.respond(r.tx, r.req, code, reason, extra...)
	}, false)
}

// refuse is Refuse with this file's reason phrases.
func (r *Refer) refuse(code int, why error) error { return r.Refuse(code, statusText(code), why) }

// answer runs respond unless the REFER was answered, and marks it answered (accepted or not).
// A refused REFER no longer holds the call's place for another.
func (r *Refer) answer(respond func(), accept bool) error {
	r.mu.Lock()
	if r.answered {
		r.mu.Unlock()
		return ErrReferAnswered
	}
	r.answered, r.accepted = true, accept
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	respond()
	if !accept {
		r.release()
	}
	return nil
}

// release frees the call's place for another REFER.
func (r *Refer) release() {
	r.call.referIn.mu.Lock()
	if r.call.referIn.pending == r {
		r.call.referIn.pending = nil
	}
	r.call.referIn.mu.Unlock()
}

// Accept answers the REFER 202 Accepted (RFC 3515 section 2.4.2), with Refer-Sub: false when
// the trunk asked for no subscription (RFC 4488 section 4), and sends the first NOTIFY,
// "SIP/2.0 100 Trying" (RFC 3515 section 2.4.4; RFC 5589 section 6), waiting for its
// response. It returns ErrReferAnswered when the REFER was already answered, or the NOTIFY's
// error as Notify does (the REFER stays accepted).
func (r *Refer) Accept(ctx context.Context) error {
	err := r.answer(func() {
		var extra []sipmsg.Header
		if r.noSub {
			extra = append(extra, sipmsg.NewHeader("Refer-Sub", "false"))
		}
		r.call.ua.respond(r.tx, r.req, 202, "Accepted", extra...)
	}, true)
	if err != nil {
		return err
	}
	return r.Notify(ctx, 100, "Trying")
}

// Notify reports the status of the new call, code (100-699) and reason, to the trunk in a
// NOTIFY of the refer subscription with a message/sipfrag body (RFC 3515 section 2.4.5) and
// waits for its response. A code of 200 or more is final: the NOTIFY says the subscription
// terminated (reason noresource, RFC 6665 section 4.1.3), the call's place is freed for
// another REFER, and later calls do nothing. Nothing is sent when the trunk asked for no
// subscription, and nothing once the call ended (the trunk hung up after the 202, as RFC 5589
// section 6 allows; Notify then returns nil). Errors: ErrNotEstablished before Accept, a
// *StatusError for a failure response, ErrNoResponse, context.Cause(ctx).
func (r *Refer) Notify(ctx context.Context, code int, reason string) error {
	r.mu.Lock()
	accepted, done := r.accepted, r.final
	final := code >= 200
	if accepted && final {
		r.final = true
	}
	r.mu.Unlock()
	if !accepted {
		return ErrNotEstablished
	}
	if done {
		return nil
	}
	if final {
		r.release()
	}
	select {
	case <-r.call.done:
		return nil
	default:
	}
	if r.noSub {
		return nil
	}
	c := r.call
	req := c.dialog.newRequest(sipmsg.NOTIFY)
	req.AppendHeader(sipmsg.NewHeader("Event", r.event))
	state := "active;expires=" + strconv.Itoa(referNotifyExpires)
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sipmsg.NewHeader("Subscription-State", state))
	ct := c.dialog.contact()
	req.AppendHeader(&ct)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentSipfrag+";version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, sanitizeText(reason))))
	err := c.inDialogRequest(ctx, req)
	if errors.Is(err, ErrCallEnded) {
		return nil
	}
	return err
}
