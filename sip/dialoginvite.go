package sip

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// INVITE transactions inside the dialog: one at a time in either direction (RFC 3261 section
// 14.1), the re-INVITEs we send, and the wait before sending one again after 491.

// tryAcquireInvite takes the dialog's INVITE slot if it is free.
func (d *dialog) tryAcquireInvite() bool {
	select {
	case d.inviteSlot <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquireInvite waits for the INVITE slot; errDialogEnded when the call ends first, and
// context.Cause(ctx) when ctx does.
func (d *dialog) acquireInvite(ctx context.Context) error {
	select {
	case <-d.done:
		return errDialogEnded
	default:
	}
	select {
	case d.inviteSlot <- struct{}{}:
		return nil
	case <-d.done:
		return errDialogEnded
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// releaseInvite frees the INVITE slot.
func (d *dialog) releaseInvite() { <-d.inviteSlot }

// reinvite sends one re-INVITE offering body, with Session-Expires and Min-SE when st has a
// session interval (RFC 4028 section 7.4, the refresher role unchanged), and waits for its final
// response. A 401 or 407 is answered with digest credentials in a new request (RFC 3261 section
// 22.2) as auth allows; a 2xx is acknowledged (section 13.2.2.4), and the ACK sent again for each
// retransmitted 2xx. A failure response is returned as *StatusError, Timer B as ErrNoResponse,
// the end of the call as errDialogEnded.
func (d *dialog) reinvite(body []byte, st sessionTimer, auth *challengeState) (*sipmsg.Response, error) {
	var credentials sipmsg.Header
	for {
		req := d.newRequest(sipmsg.INVITE)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		ct := d.contact()
		req.AppendHeader(&ct)
		st.addRequestHeaders(req, d.ua.cfg.MinSE)
		if credentials != nil {
			req.AppendHeader(credentials)
		}
		req.SetBody(body)
		res, err := d.inviteTransaction(req)
		if err != nil {
			return nil, err
		}
		switch {
		case res.IsSuccess():
			return res, nil
		case res.StatusCode == 401 || res.StatusCode == 407:
			if err := auth.check(res); err != nil {
				return nil, err
			}
			if credentials, err = auth.credentials(req, res); err != nil {
				return nil, fmt.Errorf("%w: %w: %w", ErrAuthFailed, err, statusErrorFrom(res))
			}
		default:
			return nil, statusErrorFrom(res)
		}
	}
}

// inviteTransaction sends an INVITE inside the dialog and returns its final response, after
// acknowledging a 2xx and following its Contact as the new remote target (RFC 3261 section
// 12.2.1.2); the ACK is sent again for each retransmission of the 2xx (section 13.2.2.4).
// sipgo's transaction acknowledges failure responses itself (section 17.1.1.3). Timer B
// (64*T1) without a final response is ErrNoResponse; errDialogEnded means the call ended first.
func (d *dialog) inviteTransaction(req *sipmsg.Request) (*sipmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 64*sipmsg.T1)
	defer cancel()
	tx, err := d.sess.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	res, err := finalResponse(context.Background(), tx, d.done)
	if err != nil || !res.IsSuccess() {
		return res, err
	}
	if err := d.ack2xx(tx); err != nil {
		return nil, err
	}
	d.retarget(res.Contact())
	return res, nil
}

// finalResponse waits for the final response of the client transaction tx, passing over
// provisional ones: the response; txEndError when tx ends without one; errDialogEnded once
// done is closed; context.Cause(ctx) when ctx ends.
func finalResponse(ctx context.Context, tx sipmsg.ClientTransaction, done <-chan struct{}) (*sipmsg.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, txEndError(tx)
		case <-done:
			return nil, errDialogEnded
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// txEndError is the error of a client transaction that ended without a final response: Timer
// B or F (64*T1) as ErrNoResponse, its transport error, or ErrTransactionTerminated.
func txEndError(tx sipmsg.ClientTransaction) error {
	if err := tx.Err(); err != nil {
		if errors.Is(err, sipmsg.ErrTransactionTimeout) {
			return fmt.Errorf("%w: %w", ErrNoResponse, err)
		}
		return err
	}
	return sipmsg.ErrTransactionTerminated
}

// ack2xx acknowledges the 2xx of tx and arranges for the same ACK to be sent again for every
// retransmission of that 2xx, which means the ACK was lost.
func (d *dialog) ack2xx(tx sipmsg.ClientTransaction) error {
	ack := d.newRequest(sipmsg.ACK)
	if err := d.sess.WriteRequest(ack); err != nil {
		return fmt.Errorf("sip: send ACK: %w", err)
	}
	tmpl := ack.Clone()
	if cl, _, err := d.ua.client(d.tp); err == nil {
		tx.OnRetransmission(func(r *sipmsg.Response) {
			if r.IsSuccess() {
				_ = cl.WriteRequest(tmpl.Clone(), sendAsIs)
			}
		})
	}
	return nil
}

// sendAsIs is a sipgo request option that sends a fully built request without changes.
func sendAsIs(*sipgo.Client, *sipmsg.Request) error { return nil }

// glareDelay is the random wait before sending a re-INVITE again after 491 (RFC 3261 section
// 14.1), in units of 10 ms: 2.1 to 4 s when we own the Call-ID (we placed the call), 0 to 2 s
// otherwise.
func (d *dialog) glareDelay() time.Duration {
	lo, hi := int64(0), int64(200)
	if d.ownsCallID {
		lo, hi = 210, 400
	}
	n, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		return time.Duration(hi) * 10 * time.Millisecond
	}
	return time.Duration(lo+n.Int64()) * 10 * time.Millisecond
}

// wait waits dur unless the call (errDialogEnded) or ctx ends first.
func (d *dialog) wait(ctx context.Context, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-d.done:
		return errDialogEnded
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
