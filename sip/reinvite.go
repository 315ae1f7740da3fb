package sip

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
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

// Hold puts the trunk on hold (RFC 3264 section 8.4): a re-INVITE inside the dialog whose
// offer is our current description with the same o= session id, the o= version one higher and
// a=sendonly, or a=inactive while the trunk holds us (RFC 6337 section 5.3). The trunk's answer
// (normally a=recvonly, or a=inactive) becomes the call's Media, with LocalHold set. The RTP
// socket stays open; what to send meanwhile is the caller's choice (a=sendonly allows media,
// silence or music).
//
// Only one re-INVITE is in progress per dialog in either direction (RFC 3261 section 14.1):
// Hold waits for a pending session refresh or a re-INVITE from the trunk to finish. A 491
// Request Pending (the trunk's re-INVITE crossed ours) is retried after the random delay of RFC
// 3261 section 14.1 (2.1 to 4 s when we placed the call, up to 2 s otherwise), up to 4 attempts.
// A digest challenge (401/407) is answered once with the trunk's credentials, and a 422 with a
// larger session interval (RFC 4028 section 7.4). ctx bounds these waits; once sent, a
// re-INVITE runs until its final response or Timer B (64*T1), and is not cancelled.
//
// Holding a held call returns nil without sending anything. Errors: *StatusError when the trunk
// refused (the session stays as it was, RFC 3261 section 14.1); ErrNoResponse, and
// *StatusError 408 or 481, after which the call is ended with a BYE and cause ErrDialogLost;
// ErrNotEstablished; ErrCallEnded; context.Cause(ctx).
func (c *Call) Hold(ctx context.Context) error { return c.setHold(ctx, true) }

// Resume takes the trunk off hold: a re-INVITE like Hold's with a=sendrecv, or a=recvonly while
// the trunk holds us (RFC 6337 section 5.3); the answer clears Media.LocalHold. Resuming a call
// that is not held returns nil without sending anything. It waits, retries and fails like Hold.
func (c *Call) Resume(ctx context.Context) error { return c.setHold(ctx, false) }

// setHold sends the hold or resume re-INVITE unless the call already is in that state.
func (c *Call) setHold(ctx context.Context, hold bool) error {
	c.mu.Lock()
	answered := c.answered && c.dlg != nil
	c.mu.Unlock()
	if !answered {
		return ErrNotEstablished
	}
	if err := c.acquireReinvite(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	same, st := c.media.LocalHold == hold, c.timer
	c.mu.Unlock()
	if same {
		c.releaseReinvite()
		return nil
	}
	_, lost, err := c.renegotiate(ctx, hold, st)
	if lost {
		c.log.Warn("sip re-INVITE failed, ending call", "hold", hold, "error", err)
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ua.cfg.HangupTimeout)
		defer cancel()
		_ = c.hangup(hctx, fmt.Errorf("%w: %w", ErrDialogLost, err))
		return err
	}
	if err != nil {
		c.log.Warn("sip re-INVITE refused", "hold", hold, "error", err)
		return err
	}
	c.log.Info("sip call put on hold by us", "held", hold)
	return nil
}

// tryAcquireReinvite takes the dialog's re-INVITE slot if it is free (RFC 3261 section 14.1:
// one INVITE transaction at a time in either direction).
func (c *Call) tryAcquireReinvite() bool {
	select {
	case c.reinviteSlot <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquireReinvite waits for the re-INVITE slot, the end of the call or of ctx.
func (c *Call) acquireReinvite(ctx context.Context) error {
	select {
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrCallEnded, c.Err())
	default:
	}
	select {
	case c.reinviteSlot <- struct{}{}:
		return nil
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrCallEnded, c.Err())
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// releaseReinvite frees the re-INVITE slot.
func (c *Call) releaseReinvite() { <-c.reinviteSlot }

// renegotiate is the one path of the re-INVITEs we send (hold, resume and session refresh): it
// offers our description with the direction for hold, answers challenges, retries after 491
// and 422, and installs the answer. It must be called holding the re-INVITE slot and releases
// it. lost reports a failure that ends the dialog (408, 481 or no response, RFC 3261 section
// 12.2.1.2): the caller hangs up. Any other failure leaves the session unchanged.
func (c *Call) renegotiate(ctx context.Context, hold bool, st sessionTimer) (res *sipmsg.Response, lost bool, err error) {
	held := true
	defer func() {
		if held {
			c.releaseReinvite()
		}
	}()
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		body, err := c.reofferLocked(hold)
		c.mu.Unlock()
		if err != nil {
			return nil, false, err
		}
		res, err = c.reinvite(body, st)
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
				c.releaseReinvite()
				if werr := c.sleep(ctx, c.glareDelay()); werr != nil {
					return nil, false, werr
				}
				if werr := c.acquireReinvite(ctx); werr != nil {
					return nil, false, werr
				}
				held = true
				continue
			}
		}
		if err != nil {
			if errors.As(err, &se) {
				return nil, se.Code == 408 || se.Code == 481, err
			}
			return nil, errors.Is(err, ErrNoResponse), err
		}
		break
	}
	if len(res.Body()) > 0 {
		if md, perr := ParseSDP(res.Body()); perr == nil {
			c.applyRemote(md)
		} else {
			c.log.Warn("sip re-INVITE answer unusable", "error", perr)
		}
	}
	c.mu.Lock()
	c.media.LocalHold = hold
	c.mu.Unlock()
	nt := timerFromResponse(res)
	if nt.interval == 0 {
		// No Session-Expires in the answer: no session timer (RFC 4028 section 7.2).
		nt = sessionTimer{}
	}
	c.restartTimer(nt)
	return res, false, nil
}

// parseMinSE reads a Min-SE value in seconds (RFC 4028 section 5); 0 when absent or unreadable.
func parseMinSE(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(v, ";")[0]))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// glareDelay is the random wait before sending a re-INVITE again after 491 (RFC 3261 section
// 14.1), in units of 10 ms: 2.1 to 4 s when we own the Call-ID (we placed the call), 0 to 2 s
// otherwise.
func (c *Call) glareDelay() time.Duration {
	lo, hi := int64(0), int64(200)
	if c.dir == Outbound {
		lo, hi = 210, 400
	}
	n, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		return time.Duration(hi) * 10 * time.Millisecond
	}
	return time.Duration(lo+n.Int64()) * 10 * time.Millisecond
}

// sleep waits d unless the call or ctx ends first.
func (c *Call) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrCallEnded, c.Err())
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// reofferLocked returns our description for a new offer inside the dialog: the last one we
// sent with the direction that hold and the trunk's own hold give (RFC 6337 section 5.3: we
// send unless the trunk refuses to receive, we receive unless we hold), the same o= session id,
// and the o= version one higher when anything changed (RFC 3264 section 8). It becomes the last
// description sent. The caller holds c.mu.
func (c *Call) reofferLocked(hold bool) ([]byte, error) {
	dir := directionOf(!c.media.Held, !hold)
	body, err := withDirection(c.lastSDP, dir, c.sdpVersion)
	if err != nil {
		return nil, err
	}
	if !sameSDP(body, c.lastSDP) {
		c.sdpVersion++
		if body, err = withDirection(c.lastSDP, dir, c.sdpVersion); err != nil {
			return nil, err
		}
	}
	c.lastSDP = body
	return body, nil
}

// withDirection rewrites a description of ours with direction dir on every media stream (and
// none at session level) and o= version version; everything else is kept.
func withDirection(body []byte, dir Direction, version uint64) ([]byte, error) {
	var sess sdp.SessionDescription
	if err := sess.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDPParams, err)
	}
	sess.Origin.SessionVersion = version
	sess.Attributes = withoutDirection(sess.Attributes)
	for _, m := range sess.MediaDescriptions {
		m.Attributes = append(withoutDirection(m.Attributes), sdp.NewPropertyAttribute(dir.String()))
	}
	out, err := sess.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDPParams, err)
	}
	return out, nil
}

// withoutDirection returns attrs without direction attributes.
func withoutDirection(attrs []sdp.Attribute) []sdp.Attribute {
	out := attrs[:0:0]
	for _, a := range attrs {
		if _, ok := parseDirection(a.Key); !ok {
			out = append(out, a)
		}
	}
	return out
}
