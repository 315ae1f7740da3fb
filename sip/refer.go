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

// Blind transfer towards the trunk (RFC 3515): Call.Transfer sends a REFER inside the call's
// dialog and the trunk reports the progress of the referred call in NOTIFYs of the implicit
// "refer" subscription (RFC 3515 section 2.4.4), whose message/sipfrag bodies (RFC 3420) carry
// the status line of the new call; each NOTIFY is answered 200 and reported as EventTransfer.

// ErrTransferPending is returned by Call.Transfer while an earlier transfer of the call has not
// had its final NOTIFY.
var ErrTransferPending = errors.New("sip: a transfer of the call is in progress")

// errBadSipfrag is a NOTIFY body that is not a SIP status line.
var errBadSipfrag = errors.New("sip: malformed message/sipfrag body")

// contentSipfrag is the body type of the NOTIFYs of a refer subscription (RFC 3515 section 2.4.5).
const contentSipfrag = "message/sipfrag"

// maxSipfragReason bounds the reason phrase taken from a sipfrag, bytes.
const maxSipfragReason = 128

// referState is the call's transfer towards the trunk: one at a time, from the REFER to the
// final NOTIFY.
type referState struct {
	mu      sync.Mutex
	pending bool   // a REFER was accepted and no final NOTIFY has arrived
	done    bool   // a final NOTIFY reported success (2xx)
	round   uint64 // counts the transfers, so that a late timer ends only its own
}

// Transfer sends the trunk a REFER inside the established dialog (RFC 3515 section 2.4.1)
// asking it to call number, E.164 (telephony.IsE164), which is written in the trunk's number
// format (NumberPlan.ForTrunk) as the user part of the trunk's URI in Refer-To; Referred-By
// (RFC 3892) is our Contact. It waits for the final response: a 2xx means the trunk took the
// transfer on and its NOTIFYs follow as EventTransfer events. Errors: ErrNotEstablished,
// ErrCallEnded, ErrTransferPending, telephony.ErrInvalidNumber, a *StatusError for a failure
// response, ErrNoResponse after Timer F (64*T1), context.Cause(ctx). A transfer whose final
// NOTIFY has not come within Config.TransferTimeout is reported as a final EventTransfer with
// status 408, and another transfer may start.
func (c *Call) Transfer(ctx context.Context, number string) error {
	user, err := numberUser(c.trunk.Numbering.ForTrunk(number))
	if err != nil {
		return err
	}
	if err := c.established(); err != nil {
		return err
	}
	c.refer.mu.Lock()
	if c.refer.pending {
		c.refer.mu.Unlock()
		return ErrTransferPending
	}
	c.refer.pending = true
	c.refer.round++
	round := c.refer.round
	c.refer.mu.Unlock()
	if err := c.sendRefer(ctx, user); err != nil {
		c.refer.mu.Lock()
		c.refer.pending = false
		c.refer.mu.Unlock()
		return err
	}
	c.awaitFinalNotify(round)
	return nil
}

// awaitFinalNotify ends transfer round as failed with status 408 (Request Timeout) when its
// final NOTIFY has not come within Config.TransferTimeout and the call goes on; the timer
// stops with the call.
func (c *Call) awaitFinalNotify(round uint64) {
	timer := time.NewTimer(c.ua.cfg.TransferTimeout)
	go func() {
		defer timer.Stop()
		select {
		case <-c.done:
			return
		case <-timer.C:
		}
		c.refer.mu.Lock()
		expired := c.refer.pending && c.refer.round == round
		if expired {
			c.refer.pending = false
		}
		c.refer.mu.Unlock()
		if expired {
			c.log.Info("sip transfer without a final NOTIFY", "timeout", c.ua.cfg.TransferTimeout)
			c.emit(DialogEvent{Kind: EventTransfer, TransferStatus: 408, TransferReason: "Request Timeout", TransferFinal: true})
		}
	}()
}

// sendRefer sends the REFER with Refer-To the trunk's URI with user part user and waits for
// its final response.
func (c *Call) sendRefer(ctx context.Context, user string) error {
	req := c.dialog.newRequest(sipmsg.REFER)
	target := c.trunk.uri(user)
	req.AppendHeader(sipmsg.NewHeader("Refer-To", "<"+target.String()+">"))
	me := c.dialog.contact().Address
	req.AppendHeader(sipmsg.NewHeader("Referred-By", "<"+me.String()+">"))
	ct := c.dialog.contact()
	req.AppendHeader(&ct)
	return c.inDialogRequest(ctx, req)
}

// inDialogRequest sends a request other than INVITE inside the established dialog and waits
// for its final response, at most Timer F (64*T1, RFC 3261 section 17.1.2.2). Errors: a
// *StatusError for a failure response, ErrNoResponse, ErrCallEnded when the call ends first,
// context.Cause(ctx).
func (c *Call) inDialogRequest(ctx context.Context, req *sipmsg.Request) error {
	ctx, cancel := context.WithTimeout(ctx, 64*sipmsg.T1)
	defer cancel()
	tx, err := c.dialog.sess.TransactionRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: send %s: %w", req.Method, err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, c.done)
	switch {
	case errors.Is(err, errDialogEnded):
		return c.endedError()
	case err != nil:
		return err
	case !res.IsSuccess():
		return statusErrorFrom(res)
	}
	return nil
}

// Transferred reports whether the trunk reported a transfer of the call succeeded (a NOTIFY
// with a 2xx sipfrag); the trunk's BYE that usually follows is then the end of a transfer.
func (c *Call) Transferred() bool {
	c.refer.mu.Lock()
	defer c.refer.mu.Unlock()
	return c.refer.done
}

// onNotify answers a NOTIFY of the trunk inside the dialog: one of the refer subscription of a
// pending transfer (Event: refer, RFC 3515 section 2.4.4) with a message/sipfrag body is
// answered 200 and reported as EventTransfer; a final status (200 and above) or
// Subscription-State terminated ends the subscription. Any other event package gets 489 Bad
// Event (RFC 6665 section 8.2.1), a NOTIFY with no transfer pending 481 (RFC 6665 section
// 4.1.3), another body type 415 with Accept, a malformed sipfrag 400; none touches the call.
func (c *Call) onNotify(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	pkg, _, _ := strings.Cut(headerValue(req, "Event"), ";")
	if !strings.EqualFold(strings.TrimSpace(pkg), "refer") {
		c.ua.respond(tx, req, 489, "Bad Event", sipmsg.NewHeader("Allow-Events", "refer"))
		return
	}
	c.refer.mu.Lock()
	pending := c.refer.pending
	c.refer.mu.Unlock()
	if !pending {
		c.ua.respond(tx, req, 481, "Subscription Does Not Exist")
		return
	}
	if mt := mediaType(headerValue(req, "Content-Type")); mt != contentSipfrag {
		c.log.Info("sip NOTIFY with an unsupported body refused", "content_type", mt)
		c.ua.respond(tx, req, 415, "Unsupported Media Type", sipmsg.NewHeader("Accept", contentSipfrag))
		return
	}
	code, reason, err := parseSipfrag(req.Body())
	if err != nil {
		c.log.Info("sip NOTIFY with a malformed sipfrag refused", "error", err)
		c.ua.respond(tx, req, 400, "Bad Request", warning(c.ua.cfg.PublicHost, err))
		return
	}
	c.ua.respond(tx, req, 200, "OK")
	state, _, _ := strings.Cut(headerValue(req, "Subscription-State"), ";")
	final := code >= 200 || strings.EqualFold(strings.TrimSpace(state), "terminated")
	c.refer.mu.Lock()
	if final {
		c.refer.pending = false
		c.refer.done = code >= 200 && code < 300
	}
	c.refer.mu.Unlock()
	c.log.Info("sip transfer progress", "status", code, "reason", reason, "final", final)
	c.emit(DialogEvent{Kind: EventTransfer, TransferStatus: code, TransferReason: reason, TransferFinal: final})
}

// parseSipfrag reads the status line a message/sipfrag body starts with (RFC 3420 section 2,
// "SIP/2.0 200 OK"), returning its code, 100..699, and its reason phrase made safe to log and
// show. Anything else wraps errBadSipfrag.
func parseSipfrag(body []byte) (int, string, error) {
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.TrimSpace(line)
	version, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.EqualFold(version, "SIP/2.0") {
		return 0, "", fmt.Errorf("%w: %q is not a status line", errBadSipfrag, sanitizeText(line))
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(num)
	if err != nil || len(num) != 3 || code < 100 || code > 699 {
		return 0, "", fmt.Errorf("%w: status %q", errBadSipfrag, sanitizeText(num))
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > maxSipfragReason {
		reason = reason[:maxSipfragReason]
	}
	return code, sanitizeText(reason), nil
}
