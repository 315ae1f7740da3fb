package sip

import (
	"context"
	"errors"
	"fmt"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Errors of in-dialog re-INVITEs sent by Hold, Resume and session refreshes.
var (
	// ErrNotEstablished is returned by Hold and Resume before the trunk answered the call.
	ErrNotEstablished = errors.New("sip: call not established")
	// ErrCallEnded is returned by Hold and Resume once the call has ended; it wraps the call's Err.
	ErrCallEnded = errors.New("sip: call has ended")
	// ErrNoResponse means the trunk did not answer a re-INVITE within Timer B, 64*T1
	// (RFC 3261 section 17.1.1.2); the dialog is then ended with a BYE (section 12.2.1.2).
	ErrNoResponse = errors.New("sip: no response to re-INVITE")
	// ErrDialogLost is the cause of a call ended because the trunk answered a re-INVITE with 408
	// or 481, or not at all: it no longer knows the dialog (RFC 3261 section 12.2.1.2).
	ErrDialogLost = errors.New("sip: trunk lost the dialog")
)

// maxGlareAttempts bounds how often one re-INVITE is sent after 491 Request Pending.
const maxGlareAttempts = 4

// setHold sends the hold or resume re-INVITE unless the call already is in that state.
func (c *Call) setHold(ctx context.Context, hold bool) error {
	if !c.isAnswered() || c.dialog.sess == nil {
		return ErrNotEstablished
	}
	if err := c.dialog.acquireInvite(ctx); err != nil {
		return c.callError(err)
	}
	if c.media.localHold() == hold {
		c.dialog.releaseInvite()
		return nil
	}
	_, lost, err := c.renegotiate(ctx, hold, c.timer.get())
	if lost {
		c.log.Warn("sip re-INVITE failed, ending call", "hold", hold, "error", err)
		c.abort(fmt.Errorf("%w: %w", ErrDialogLost, err))
		return err
	}
	if err != nil {
		c.log.Warn("sip re-INVITE refused", "hold", hold, "error", err)
		return err
	}
	c.log.Info("sip call put on hold by us", "held", hold)
	return nil
}

// renegotiate is the one path of the re-INVITEs we send (hold, resume and session refresh): it
// offers our description with the direction for hold, answers challenges, retries after 491
// and 422, and installs the answer. It must be called holding the dialog's INVITE slot and releases
// it. lost reports a failure that ends the dialog (408, 481 or no response, RFC 3261 section
// 12.2.1.2): the caller hangs up. Any other failure leaves the session unchanged.
func (c *Call) renegotiate(ctx context.Context, hold bool, st sessionTimer) (res *sipmsg.Response, lost bool, err error) {
	held := true
	defer func() {
		if held {
			c.dialog.releaseInvite()
		}
	}()
	for attempt := 1; ; attempt++ {
		body, err := c.media.reoffer(hold)
		if err != nil {
			return nil, false, err
		}
		res, err = c.dialog.reinvite(body, st, &challengeState{trunk: c.trunk})
		var se *StatusError
		if errors.As(err, &se) && attempt < maxGlareAttempts {
			switch se.Code {
			case 422:
				if minSE := parseMinSE(se.header("Min-SE")); minSE > st.interval {
					st.interval = minSE
					continue
				}
			case 491:
				held = false
				c.dialog.releaseInvite()
				if werr := c.dialog.wait(ctx, c.dialog.glareDelay()); werr != nil {
					return nil, false, c.callError(werr)
				}
				if werr := c.dialog.acquireInvite(ctx); werr != nil {
					return nil, false, c.callError(werr)
				}
				held = true
				continue
			}
		}
		if err != nil {
			if errors.As(err, &se) {
				return nil, se.Code == 408 || se.Code == 481, err
			}
			return nil, errors.Is(err, ErrNoResponse), c.callError(err)
		}
		break
	}
	if len(res.Body()) > 0 {
		if md, perr := c.media.parse(res.Body()); perr == nil {
			c.applyAnswer(md)
		} else {
			c.log.Warn("sip re-INVITE answer unusable", "error", perr)
		}
	}
	c.media.setLocalHold(hold)
	nt := timerFromResponse(res)
	if nt.interval == 0 {
		// No Session-Expires in the answer: no session timer (RFC 4028 section 7.2).
		nt = sessionTimer{}
	}
	c.restartTimer(nt)
	return res, false, nil
}
