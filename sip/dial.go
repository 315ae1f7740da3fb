package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// DialRequest describes an outbound call.
type DialRequest struct {
	// Trunk is the name of the trunk to call through.
	Trunk string
	// To is the called number in E.164 ("+" and 7 to 15 digits), as the gateway's routing
	// normalised it (telephony.NumberPlan.ToE164); it is written in the trunk's format (ForTrunk)
	// in the Request-URI and To. Any other value fails with ErrInvalidNumber.
	To string
	// From is the caller ID (E.164); "" = Trunk.CallerID. It is formatted for the trunk like To;
	// a caller ID the numbering plan cannot read must be dialable (digits, '*' and '#'), anything
	// else fails with telephony.ErrInvalidNumber.
	From string
	// DisplayName is the From display name; "" = none. It is written as a quoted-string after
	// DisplayName (the function) made it safe: control characters and invalid UTF-8 removed,
	// at most MaxDisplayNameLen characters, quotes and backslashes escaped.
	DisplayName string
	// OnProgress, when set, is called from Dial's goroutine for every provisional response
	// above 100 (180 Ringing, 183 Session Progress). It must not block.
	OnProgress func(Progress)
	// Withheld withholds the caller's number from the called party: From is anonymous and the
	// INVITE carries Privacy: id (RFC 3323 section 4.2); the trunk still learns the number from
	// P-Asserted-Identity or Remote-Party-ID when Trunk.Identity asks for one (RFC 3325 section
	// 9.3).
	Withheld bool
	// ProgressTimeout, when above 0, gives up the INVITE when the trunk has sent neither a
	// provisional response above 100 (180, 183) nor a final response within it, and Dial
	// returns ErrNoProgress: after a 100 Trying the INVITE is cancelled (RFC 3261 section 9.1);
	// when the trunk sent nothing at all, Dial stops its retransmissions at once, since no
	// CANCEL may be sent before a provisional response. 0 waits for Timer B (64*T1).
	ProgressTimeout time.Duration
	// Target, when valid, is the address the INVITE is sent to (one of UA.Targets); the
	// Request-URI still names the trunk's host. Invalid: the trunk's host and port.
	Target netip.AddrPort
	// RTP, when set, is the call's RTP port pair, taken beforehand with UA.ReservePorts so that
	// the caller knew a pair was free before committing to the call. Dial takes it over: it is
	// closed with the call, or by Dial on every path that fails. nil: Dial binds a pair itself.
	RTP *RTPConn
}

// Progress reports a provisional response to an outbound INVITE (RFC 3261 section 13.2.2.1).
type Progress struct {
	// StatusCode is 101..199, typically 180 or 183.
	StatusCode int
	// Reason is the reason phrase.
	Reason string
	// EarlyMedia is true when the response carried an SDP answer: the Call's RTP socket already
	// sends to and accepts from the trunk's media address, with the negotiated codec in Call.Media.
	EarlyMedia bool
	// Call is the call being set up. Its RTP socket and Media are usable for early media; Hangup
	// cancels the INVITE. Dial returns the same Call when the trunk answers.
	Call *Call
}

// Dial places an outbound call: INVITE with an SDP offer (RFC 3264) of the trunk's codecs,
// telephone-event/8000 and ptime 20; answers 401/407 with digest credentials once per challenge
// (a second challenge, unless it only marks the nonce stale, fails with ErrAuthFailed wrapping
// the *StatusError); reports provisional responses through OnProgress; acknowledges the 2xx and
// returns the established Call.
//
// Cancelling ctx (or Call.Hangup from a Progress) before the answer sends CANCEL (RFC 3261
// section 9.1) once a provisional response arrived (before that, CANCEL is not allowed and Dial
// waits for the first response or Timer B, 64*T1); a 2xx that crosses the CANCEL is
// acknowledged and ended with a BYE. Dial then returns context.Cause(ctx) or the Hangup cause.
// sipgo's dialog client ends an attempt after 11 responses (provisional ones included).
// A final failure response is returned as *StatusError (for example Code 486). Other errors:
// ErrUnknownTrunk, ErrTooManyCalls, ErrNotServing, ErrShuttingDown, telephony.ErrInvalidNumber,
// ErrNoPorts, ErrBadAnswer.
func (ua *UA) Dial(ctx context.Context, r DialRequest) (*Call, error) {
	reserved := r.RTP // closed here unless the call took it over
	defer func() {
		if reserved != nil {
			_ = reserved.Close()
		}
	}()
	if ua.draining.Load() || !ua.enterDial() {
		return nil, ErrShuttingDown
	}
	defer ua.dials.Done()
	t := ua.trunkByName(r.Trunk)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTrunk, r.Trunk)
	}
	cl, b, err := ua.client(t.Transport)
	if err != nil {
		return nil, err
	}
	if !telephony.IsE164(r.To) {
		return nil, fmt.Errorf("%w: %q is not E.164", telephony.ErrInvalidNumber, r.To)
	}
	e164 := r.To
	caller := r.From
	if caller == "" {
		caller = t.CallerID
	}
	callerUser := "anonymous"
	if caller != "" {
		if e, err := t.Numbering.ToE164(caller); err == nil {
			caller, callerUser = e, t.Numbering.ForTrunk(e)
		} else {
			callerUser = caller
		}
		if callerUser, err = numberUser(callerUser); err != nil {
			return nil, fmt.Errorf("caller ID: %w", err)
		}
	}
	calleeUser, err := numberUser(t.Numbering.ForTrunk(e164))
	if err != nil {
		return nil, err
	}
	if !t.reserve() {
		return nil, ErrTooManyCalls
	}
	c := newCall(ua, t, Outbound, t.Transport)
	reserved = nil
	if err := c.attachRTP(r.RTP); err != nil {
		c.end(err)
		return nil, err
	}
	c.from, c.to = caller, e164
	setupCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	c.setupCancel = cancel
	c.mu.Unlock()
	offer, err := c.media.offer()
	if err != nil {
		c.end(err)
		return nil, err
	}

	inv := ua.buildInvite(t, b, r.DisplayName, callerUser, calleeUser, offer)
	applyIdentity(inv, t, r.DisplayName, callerUser, r.Withheld)
	applyPRACK(inv, t)
	reliable := newPRACKClient(t.PRACK)
	if r.Target.IsValid() {
		inv.SetDestination(r.Target.String())
	}
	contact := *inv.Contact()
	c.dialog.callID = inv.CallID().Value()
	c.dialog.setTarget(&inv.Recipient) // until a 2xx names the trunk's Contact
	c.log = c.log.With("call_id", c.dialog.callID)
	dua := &sipgo.DialogUA{Client: cl, ContactHDR: contact}
	c.log.Info("sip dialing", "to", e164)
	var sess *sipgo.DialogClientSession
	var responded, progressed atomic.Bool
	if r.ProgressTimeout > 0 {
		silent := time.AfterFunc(r.ProgressTimeout, func() {
			switch {
			case progressed.Load():
			case responded.Load():
				cancel(errProgressTimeout)
			default:
				cancel(errNoResponse)
			}
		})
		defer silent.Stop()
	}
	for attempt := 0; ; attempt++ {
		sess, err = dua.WriteInvite(setupCtx, inv)
		if err != nil {
			c.end(err)
			return nil, fmt.Errorf("sip: send INVITE: %w", err)
		}
		c.dialog.sess = sess
		auth := &challengeState{trunk: t}
		err = sess.WaitAnswer(setupCtx, sipgo.AnswerOptions{
			Username: t.Username,
			Password: t.Password,
			OnResponse: func(res *sipmsg.Response) error {
				responded.Store(true)
				if res.StatusCode > 100 {
					progressed.Store(true)
				}
				if !reliable.accept(c, sess, res) {
					return nil
				}
				return c.onDialResponse(res, r.OnProgress, auth)
			},
		})
		if retry := intervalRetry(inv, err); attempt == 0 && retry != nil {
			inv = retry
			continue
		}
		break
	}
	if err != nil {
		return nil, c.dialFailed(setupCtx, sess, err)
	}
	res := sess.InviteResponse
	if err := sess.Ack(context.WithoutCancel(ctx)); err != nil {
		c.end(err)
		return nil, fmt.Errorf("sip: send ACK: %w", err)
	}
	md, err := c.media.parse(res.Body())
	if err == nil {
		_, _, err = c.media.applyAnswer(md)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrBadAnswer, err)
		c.markAnswered()
		c.abort(err)
		return nil, err
	}
	c.timer.set(timerFromResponse(res))
	if !c.establish() {
		return nil, ErrShuttingDown
	}
	return c, nil
}

// buildInvite builds the initial INVITE (RFC 3261 section 13.2.1) for trunk t. display is
// written as a quoted-string (see DisplayName); callerUser and calleeUser must have passed
// numberUser (or be "anonymous").
func (ua *UA) buildInvite(t *trunk, b *boundListener, display, callerUser, calleeUser string, offer []byte) *sipmsg.Request {
	inv := sipmsg.NewRequest(sipmsg.INVITE, t.uri(calleeUser))
	inv.SetTransport(sipgoNetwork(t.Transport))
	from := &sipmsg.FromHeader{DisplayName: quoteDisplayName(display), Address: sipmsg.Uri{Scheme: "sip", User: callerUser, Host: t.Host}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", newID())
	inv.AppendHeader(from)
	inv.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: calleeUser, Host: t.Host}, Params: sipmsg.NewParams()})
	cid := sipmsg.CallIDHeader(newID() + newID())
	inv.AppendHeader(&cid)
	inv.AppendHeader(&sipmsg.CSeqHeader{SeqNo: uint32(randUint64()%30000) + 1, MethodName: sipmsg.INVITE})
	contactUser := t.Username
	if contactUser == "" {
		contactUser = callerUser
	}
	ct := ua.contact(contactUser, b)
	inv.AppendHeader(&ct)
	inv.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	inv.AppendHeader(sipmsg.NewHeader("User-Agent", ua.cfg.UserAgent))
	inv.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	inv.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	if ua.cfg.SessionExpires > 0 {
		inv.AppendHeader(sipmsg.NewHeader("Session-Expires", itoa(int(ua.cfg.SessionExpires.Seconds()))))
		inv.AppendHeader(sipmsg.NewHeader("Min-SE", itoa(int(ua.cfg.MinSE.Seconds()))))
	}
	inv.SetBody(offer)
	return inv
}

// onDialResponse sees every response to our INVITE before sipgo acts on it.
func (c *Call) onDialResponse(res *sipmsg.Response, onProgress func(Progress), auth *challengeState) error {
	switch {
	case res.StatusCode == 100:
		return nil
	case res.IsProvisional():
		p := Progress{StatusCode: res.StatusCode, Reason: res.Reason, Call: c}
		if len(res.Body()) > 0 {
			md, err := c.media.parse(res.Body())
			if err == nil {
				if _, _, err = c.media.applyAnswer(md); err == nil {
					p.EarlyMedia = true
				}
			}
			if err != nil {
				c.log.Warn("sip early media SDP unusable", "status", res.StatusCode, "error", err)
			}
		}
		c.log.Debug("sip progress", "status", res.StatusCode, "early_media", p.EarlyMedia)
		if onProgress != nil {
			onProgress(p)
		}
		return nil
	case res.IsSuccess():
		// Register the dialog before the ACK so that a BYE right after the 2xx finds the call.
		c.dialog.setPeer(sourceAddr(res))
		from, to := res.From(), res.To()
		if from != nil && to != nil {
			local, _ := from.Params.Get("tag")
			remote, _ := to.Params.Get("tag")
			c.dialog.key = dialogKey(c.dialog.callID, local, remote)
			c.ua.addDialog(c.dialog.key, c)
		}
		c.dialog.retarget(res.Contact())
		return nil
	case res.StatusCode == 401 || res.StatusCode == 407:
		return auth.check(res)
	}
	return nil
}

// dialFailed maps a failed WaitAnswer to Dial's error, acknowledging and hanging up a 2xx that
// crossed our CANCEL (RFC 3261 section 9.1), and releases the call.
func (c *Call) dialFailed(setupCtx context.Context, sess *sipgo.DialogClientSession, err error) error {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		err = statusErrorFrom(dr.Res)
	}
	if setupCtx.Err() != nil {
		if res := sess.InviteResponse; res != nil && res.IsSuccess() {
			c.log.Info("sip 2xx crossed CANCEL: ACK and BYE")
			c.dialog.retarget(res.Contact())
			ctx, cancel := context.WithTimeout(context.Background(), c.ua.cfg.HangupTimeout)
			defer cancel()
			if aerr := sess.Ack(ctx); aerr == nil {
				if berr := c.dialog.sendBye(ctx, nil); berr != nil {
					c.log.Warn("sip BYE after crossed 2xx failed", "error", berr)
				}
			}
		}
		err = context.Cause(setupCtx)
		if errors.Is(err, errNoResponse) || errors.Is(err, errProgressTimeout) {
			err = ErrNoProgress
		}
	}
	c.end(err)
	return err
}

// intervalRetry returns the INVITE to send again after a 422 Session Interval Too Small (RFC
// 4028 section 7.4): same dialog identifiers, next CSeq, Session-Expires raised to the Min-SE
// the trunk asked for. It returns nil for any other outcome.
func intervalRetry(inv *sipmsg.Request, err error) *sipmsg.Request {
	var dr *sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || dr.Res.StatusCode != 422 {
		return nil
	}
	minSE := parseMinSE(headerValue(dr.Res, "Min-SE"))
	if minSE == 0 {
		return nil
	}
	n := itoa(int(minSE.Seconds()))
	retry := inv.Clone()
	retry.RemoveHeader("Via")
	retry.RemoveHeader("Session-Expires")
	retry.RemoveHeader("Min-SE")
	retry.AppendHeader(sipmsg.NewHeader("Session-Expires", n))
	retry.AppendHeader(sipmsg.NewHeader("Min-SE", n))
	retry.CSeq().SeqNo++
	return retry
}
