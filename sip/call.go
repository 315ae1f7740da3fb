package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/webtrunk/webtrunk/telephony"
)

// CallDirection says who placed a call.
type CallDirection int

const (
	// Outbound calls were placed by Dial towards a trunk.
	Outbound CallDirection = iota
	// Inbound calls came from a trunk as an INVITE.
	Inbound
)

// String returns "outbound" or "inbound".
func (d CallDirection) String() string {
	if d == Inbound {
		return "inbound"
	}
	return "outbound"
}

// Call is one call with a trunk, in either direction, from INVITE to BYE. Its RTP socket is
// closed and its ports returned to the pool when it ends. All methods are safe for concurrent use.
type Call struct {
	// A Call is the facade of three parts, and keeps the lifecycle that joins them: its SIP
	// dialog (identifiers, remote target, CSeq, in-dialog requests and ACKs), its media session
	// (SDP versions, offer/answer, hold, RTP socket) and its session timer (RFC 4028).
	ua    *UA
	trunk *trunk
	log   *slog.Logger
	id    string
	dir   CallDirection

	from, to string

	dialog *dialog
	media  *mediaSession
	timer  *timerState
	prack  *prackServer // our reliable provisional responses on an inbound call; nil when none
	refer  referState   // our transfer of the call to the trunk (refer.go)
	// referIn is the trunk's transfer of the call in progress (referin.go).
	referIn referIn

	mu          sync.Mutex
	setupCancel context.CancelCauseFunc
	answered    bool
	byeSent     bool
	err         error

	events  chan DialogEvent
	dropped atomic.Int64
	done    chan struct{}
	endOnce sync.Once
}

// newCall builds the call of a trunk t whose requests go over tp; its media has no RTP socket
// until attachRTP.
func newCall(ua *UA, t *trunk, dir CallDirection, tp telephony.Transport) *Call {
	id := newID()
	done := make(chan struct{})
	return &Call{
		ua:     ua,
		trunk:  t,
		id:     id,
		dir:    dir,
		log:    ua.log.With("call", id, "trunk", t.Name, "direction", dir.String()),
		dialog: newDialog(ua, tp, t.Username, dir == Outbound, done),
		media:  newMediaSession(t.Codecs, ua.cfg.UserAgent, t.MediaEncryption),
		timer:  newTimerState(),
		events: make(chan DialogEvent, 16),
		done:   done,
	}
}

// attachRTP gives the call its RTP socket: rtp when not nil, else a pair bound from
// Config.RTPPorts. It returns ErrNoPorts when the pool is exhausted, and ErrCallEnded (after
// closing rtp) when the call ended meanwhile.
func (c *Call) attachRTP(rtp *RTPConn) error {
	if rtp == nil {
		var err error
		if rtp, err = c.ua.cfg.RTPPorts.Listen(); err != nil {
			return err
		}
	}
	rtp.startRTCPReader()
	if !c.media.attach(rtp, c.ua.mediaAddr(rtp.LocalAddr())) {
		return c.endedError()
	}
	return nil
}

// ID returns the gateway's identifier of the call (random hex, not the SIP Call-ID).
func (c *Call) ID() string { return c.id }

// CallID returns the SIP Call-ID of the call's dialog.
func (c *Call) CallID() string { return c.dialog.callID }

// Trunk returns the name of the trunk the call is on.
func (c *Call) Trunk() string { return c.trunk.Name }

// Direction returns who placed the call.
func (c *Call) Direction() CallDirection { return c.dir }

// From returns the calling number: E.164 when the trunk's numbering plan could normalise it,
// otherwise the user part of the From URI.
func (c *Call) From() string { return c.from }

// To returns the called number (the DID for inbound calls), E.164 when it could be normalised.
func (c *Call) To() string { return c.to }

// Media returns a snapshot of the negotiated media.
func (c *Call) Media() Media { return c.media.snapshot() }

// RTP returns the call's RTP socket. Its remote address follows the SDP of the trunk (including
// early media and re-INVITEs); it is closed when the call ends. It is nil for an inbound call
// before IncomingCall.Ring or Answer bound its ports.
func (c *Call) RTP() *RTPConn { return c.media.rtp.Load() }

// Events returns hold/resume/media changes and session refresh failures. The channel holds 16
// events; when nobody reads, newer events are dropped. It is never closed: select on Done too.
func (c *Call) Events() <-chan DialogEvent { return c.events }

// Done is closed when the call has ended and its resources are released.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err returns why the call ended, nil while it is up: *HangupError for a BYE from either side,
// ErrAckTimeout, ErrSessionExpired, ErrShuttingDown, or the Dial failure.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// established returns nil while the call is answered and not ended, else
// the error of a request that needs the established dialog: a wrapped
// ErrCallEnded once it ended, ErrNotEstablished before the answer.
func (c *Call) established() error {
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	select {
	case <-c.done:
		return c.endedError()
	default:
	}
	if !answered {
		return ErrNotEstablished
	}
	return nil
}

// endedError is the error of an operation that found the call ended: ErrCallEnded wrapping Err.
func (c *Call) endedError() error { return fmt.Errorf("%w: %w", ErrCallEnded, c.Err()) }

// callError turns the dialog's errDialogEnded into endedError; other errors pass unchanged.
func (c *Call) callError(err error) error {
	if errors.Is(err, errDialogEnded) {
		return c.endedError()
	}
	return err
}

// Hangup ends the call: BYE for an established call (RFC 3261 section 15), CANCEL while an
// outbound call is still being set up (Dial then returns the *HangupError). ctx bounds waiting
// for the BYE's response; the call's resources are released either way. Hanging up an ended
// call returns nil.
func (c *Call) Hangup(ctx context.Context) error {
	return c.hangup(ctx, &HangupError{By: Local})
}

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

// hangup sends one BYE (concurrent callers wait for the first) and ends the call with cause.
func (c *Call) hangup(ctx context.Context, cause error) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	c.mu.Lock()
	cancel, answered, already := c.setupCancel, c.answered, c.byeSent
	if answered {
		c.byeSent = true
	}
	c.mu.Unlock()
	if !answered {
		if cancel != nil {
			cancel(cause)
		}
		return nil
	}
	if already {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		return nil
	}
	err := c.dialog.sendBye(ctx, cause)
	if err != nil {
		c.log.Warn("sip BYE failed", "error", err)
	}
	c.end(cause)
	return err
}

// abort hangs up on the user agent's own initiative (a failed refresh, a lost ACK, shutdown),
// waiting at most Config.HangupTimeout for the BYE's response.
func (c *Call) abort(cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.ua.cfg.HangupTimeout)
	defer cancel()
	_ = c.hangup(ctx, cause)
}

// markAnswered records that the call has a 2xx: from now on it ends with a BYE.
func (c *Call) markAnswered() {
	c.mu.Lock()
	c.answered = true
	c.setupCancel = nil
	c.mu.Unlock()
}

// isAnswered reports whether the call is established (or being acknowledged).
func (c *Call) isAnswered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// end releases everything the call owns; the first cause wins.
func (c *Call) end(cause error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.err = cause
		c.mu.Unlock()
		c.dialog.closeAckWaits()
		if c.dialog.key != "" {
			c.ua.removeDialog(c.dialog.key, c)
		}
		if err := c.media.close(); err != nil {
			c.log.Debug("rtp close", "error", err)
		}
		c.trunk.release()
		close(c.done)
		c.log.Info("sip call ended", "cause", cause)
		if n := c.dropped.Load(); n > 0 {
			c.log.Warn("sip dialog events dropped: nobody read Events", "dropped", n)
		}
	})
}

// establish starts the call's session-timer goroutine once the dialog is confirmed. It returns
// false (after hanging up) when the user agent is shutting down.
func (c *Call) establish() bool {
	c.markAnswered()
	if !c.ua.enter() {
		c.abort(ErrShuttingDown)
		return false
	}
	go c.monitor()
	c.log.Info("sip call established", "codec", c.Media().Codec.Name)
	return true
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
