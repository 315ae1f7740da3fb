package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

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

// Media is the media state of a call as negotiated by offer/answer (RFC 3264).
type Media struct {
	// Codec is the audio codec in use, with the payload type the trunk uses for it.
	Codec telephony.Codec
	// TelephoneEventPT is the payload type of telephone-event/8000 (RFC 4733); 0 when not negotiated.
	TelephoneEventPT uint8
	// Remote is the trunk's current media description (address, direction, ptime).
	Remote MediaDescription
	// Held is true while the trunk does not receive media: it put the call on hold (a=sendonly,
	// a=inactive or c=0.0.0.0 in its offer), or answered our offer with a=sendonly or a=inactive.
	Held bool
	// LocalHold is true while we hold the trunk: Hold succeeded and Resume has not
	// (RFC 3264 section 8.4).
	LocalHold bool
}

// DialogEventKind is the kind of a DialogEvent.
type DialogEventKind int

const (
	// EventHold means the trunk put the call on hold with a re-INVITE (RFC 3264 section 8.4).
	EventHold DialogEventKind = iota + 1
	// EventResume means the trunk took the call off hold.
	EventResume
	// EventMediaChanged means an offer/answer exchange changed the trunk's media address, codec
	// or telephone-event payload type (RFC 3264 section 8.3); RTP already goes to the new address.
	EventMediaChanged
	// EventRefreshFailed means a session refresh we sent (RFC 4028 section 7.4) failed; Err says why.
	EventRefreshFailed
)

// String returns the event kind's name.
func (k DialogEventKind) String() string {
	switch k {
	case EventHold:
		return "hold"
	case EventResume:
		return "resume"
	case EventMediaChanged:
		return "media-changed"
	case EventRefreshFailed:
		return "refresh-failed"
	default:
		return "unknown"
	}
}

// DialogEvent reports a change inside an established call.
type DialogEvent struct {
	Kind DialogEventKind
	// Media is the call's media state after the change.
	Media Media
	// Err is set for EventRefreshFailed.
	Err error
}

// dialogSession is what a Call needs from sipgo's client or server dialog session.
type dialogSession interface {
	TransactionRequest(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error)
	WriteRequest(req *sipmsg.Request) error
	WriteBye(ctx context.Context, bye *sipmsg.Request) error
	ReadBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error
}

// Call is one call with a trunk, in either direction, from INVITE to BYE. Its RTP socket is
// closed and its ports returned to the pool when it ends. All methods are safe for concurrent use.
type Call struct {
	ua    *UA
	trunk *trunk
	log   *slog.Logger
	id    string
	dir   CallDirection
	tp    telephony.Transport // of the dialog's requests
	rtp   *RTPConn

	callID   string
	from, to string

	// set once the dialog is established
	key string
	dlg dialogSession

	mu          sync.Mutex
	media       Media
	sdpSession  uint64
	sdpVersion  uint64
	lastSDP     []byte
	target      sipmsg.Uri
	remoteCSeq  uint32
	ackWaits    map[uint32]chan *sipmsg.Request
	timer       sessionTimer
	setupCancel context.CancelCauseFunc
	answered    bool
	byeSent     bool
	ackBody     []byte // body of the ACK of an inbound INVITE (the answer to a late offer)
	err         error

	events       chan DialogEvent
	timerKick    chan struct{}
	reinviteSlot chan struct{} // holds a token while an INVITE transaction of the dialog runs
	done         chan struct{}
	endOnce      sync.Once
	dropped      atomic.Int64
}

func newCall(ua *UA, t *trunk, dir CallDirection, rtp *RTPConn) *Call {
	id := newID()
	return &Call{
		ua:           ua,
		trunk:        t,
		id:           id,
		dir:          dir,
		tp:           t.Transport,
		rtp:          rtp,
		log:          ua.log.With("call", id, "trunk", t.Name, "direction", dir.String()),
		sdpSession:   randUint64() >> 2,
		sdpVersion:   1,
		ackWaits:     map[uint32]chan *sipmsg.Request{},
		events:       make(chan DialogEvent, 16),
		timerKick:    make(chan struct{}, 1),
		reinviteSlot: make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
}

// ID returns the gateway's identifier of the call (random hex, not the SIP Call-ID).
func (c *Call) ID() string { return c.id }

// CallID returns the SIP Call-ID of the call's dialog.
func (c *Call) CallID() string { return c.callID }

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
func (c *Call) Media() Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// RTP returns the call's RTP socket. Its remote address follows the SDP of the trunk (including
// early media and re-INVITEs); it is closed when the call ends.
func (c *Call) RTP() *RTPConn { return c.rtp }

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

// Hangup ends the call: BYE for an established call (RFC 3261 section 15), CANCEL while an
// outbound call is still being set up (Dial then returns the *HangupError). ctx bounds waiting
// for the BYE's response; the call's resources are released either way. Hanging up an ended
// call returns nil.
func (c *Call) Hangup(ctx context.Context) error {
	return c.hangup(ctx, &HangupError{By: Local})
}

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
	err := c.sendBye(ctx, cause)
	if err != nil {
		c.log.Warn("sip BYE failed", "error", err)
	}
	c.end(cause)
	return err
}

// end releases everything the call owns; the first cause wins.
func (c *Call) end(cause error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.err = cause
		for cseq, ch := range c.ackWaits {
			close(ch)
			delete(c.ackWaits, cseq)
		}
		c.mu.Unlock()
		if c.key != "" {
			c.ua.removeDialog(c.key, c)
		}
		if err := c.rtp.Close(); err != nil {
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

// establish registers the dialog and starts the call's session-timer goroutine. It returns
// false (after hanging up) when the user agent is shutting down.
func (c *Call) establish() bool {
	c.mu.Lock()
	c.answered = true
	c.setupCancel = nil
	c.mu.Unlock()
	if !c.ua.enter() {
		ctx, cancel := context.WithTimeout(context.Background(), c.ua.cfg.HangupTimeout)
		defer cancel()
		_ = c.hangup(ctx, ErrShuttingDown)
		return false
	}
	go c.monitor()
	c.log.Info("sip call established", "codec", c.Media().Codec.Name)
	return true
}

func (c *Call) emit(ev DialogEvent) {
	select {
	case c.events <- ev:
	default:
		c.dropped.Add(1)
	}
}

// setMedia applies a negotiated description: the RTP socket sends to the new address unless
// the trunk holds with c=0.0.0.0 (RFC 3264 section 8.4), which keeps the previous one.
func (c *Call) setMedia(md MediaDescription, codec telephony.Codec, tePT uint8) (old, cur Media) {
	c.mu.Lock()
	old = c.media
	held := md.OnHold() || !md.Addr.Addr().IsValid()
	c.media = Media{Codec: codec, TelephoneEventPT: tePT, Remote: md, Held: held, LocalHold: old.LocalHold}
	cur = c.media
	c.mu.Unlock()
	if a := md.Addr.Addr(); a.IsValid() && !a.IsUnspecified() && md.Addr.Port() != 0 {
		c.rtp.SetRemote(md.Addr, md.RTCPAddr)
	}
	return old, cur
}

// sdpParams returns the parameters of our SDP for the call; the caller holds c.mu. While we
// hold the trunk we only send (RFC 6337 section 5.3), so answers to its offers say so.
func (c *Call) sdpParams() SDPParams {
	dir := SendRecv
	if c.media.LocalHold {
		dir = SendOnly
	}
	return SDPParams{
		Addr:             c.ua.mediaAddr(c.rtp.LocalAddr()),
		SessionID:        c.sdpSession,
		SessionVersion:   c.sdpVersion,
		Codecs:           c.trunk.Codecs,
		TelephoneEventPT: telephoneEventPT,
		PtimeMs:          20,
		Direction:        dir,
		UserAgent:        c.ua.cfg.UserAgent,
	}
}

// telephoneEventPT is the dynamic payload type offered for telephone-event/8000 (RFC 4733).
const telephoneEventPT = 101

// ackWait returns a channel that receives the ACK for our 2xx to the INVITE with CSeq cseq.
func (c *Call) ackWait(cseq uint32) chan *sipmsg.Request {
	ch := make(chan *sipmsg.Request, 1)
	c.mu.Lock()
	c.ackWaits[cseq] = ch
	c.mu.Unlock()
	return ch
}

// respond2xx sends a 2xx to an INVITE inside the dialog and retransmits it over UDP, starting
// at T1 and doubling up to T2, until the ACK arrives or 64*T1 passed (RFC 3261 section 13.3.1.4).
func (c *Call) respond2xx(tx sipmsg.ServerTransaction, res *sipmsg.Response, cseq uint32, acks chan *sipmsg.Request) (*sipmsg.Request, error) {
	defer func() {
		c.mu.Lock()
		delete(c.ackWaits, cseq)
		c.mu.Unlock()
	}()
	if err := tx.Respond(res); err != nil {
		return nil, err
	}
	t1, t2 := sipmsg.T1, sipmsg.T2
	interval := t1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	unreliable := transportOf(res) == telephony.TransportUDP
	for {
		select {
		case ack, ok := <-acks:
			if !ok {
				return nil, c.Err()
			}
			return ack, nil
		case <-retransmit.C:
			if unreliable {
				if err := tx.Respond(res); err != nil {
					return nil, err
				}
			}
			interval = min(2*interval, t2)
			retransmit.Reset(interval)
		case <-deadline.C:
			return nil, ErrAckTimeout
		}
	}
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
