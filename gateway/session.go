package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/gateway/fraud"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"
)

// Timers of a session.
const (
	// iceConnectTimeout ends a call whose browser has not completed ICE and
	// DTLS this long after the answer was sent.
	iceConnectTimeout = 30 * time.Second
	// hangupTimeout bounds waiting for the response to a BYE or CANCEL
	// while a session ends.
	hangupTimeout = 5 * time.Second
	// mediaCheckInterval is how often a session compares the time of the
	// last packet of each leg with calls.media_timeout.
	mediaCheckInterval = time.Second
	// ringTimeoutSlack is added to the longest configured ring timeout for
	// the user agent's own bound, so that the gateway's timer, which knows
	// the route, always fires first.
	ringTimeoutSlack = 5 * time.Second
)

// callState is where a call is in its life cycle (docs/protocol.md, "Call
// life cycle").
type callState int32

const (
	stateSetup     callState = iota // answer sent, trunk not answered yet
	stateConnected                  // answered, media bridged
)

// session is one call: the browser's leg, the trunk's sip.Call, the media
// bridge between them, and the signaling connection that owns the call.
// It ends exactly once, as a context cancelled with a cause; whatever the
// cause, finish ends both legs (BYE, CANCEL or a final response as the
// state requires), releases everything and sends the browser its hangup
// message.
type session struct {
	g      *Gateway
	id     string
	dir    string
	user   auth.Identity
	conn   *wsConn
	log    *slog.Logger
	ctx    context.Context //nolint:containedctx // the session's lifetime, cancelled with its end cause
	cancel context.CancelCauseFunc
	epoch  time.Time

	from, to, trunk string
	leg             browser.Leg
	ic              *sip.IncomingCall // inbound calls only
	// slot is the call's place in the gateway's admission count, set before
	// the session goroutine starts and released by finish.
	slot *callSlot

	state    atomic.Int32
	trunkH   atomic.Bool // the trunk put the call on hold
	mediaRef atomic.Int64
	// rang is set once the browser was told the call rings (ringOnce);
	// withheld withholds the caller's number (config.PrivacyID).
	rang     atomic.Bool
	withheld bool

	mu        sync.Mutex
	call      *sip.Call
	sipCallID string
	// bridge carries the media between the legs once started (media.go);
	// rtp is its trunk leg, the call's RTP socket, and stopBridge ends
	// its Run.
	bridge     *bridge.Bridge
	rtp        *sip.RTPConn
	stopBridge context.CancelFunc
	codecs     string
	answeredAt time.Time
	bridgeWG   sync.WaitGroup
	iceTimer   *time.Timer
	hold       holdState
	holdWG     sync.WaitGroup // the goroutine carrying out hold and resume
	// infoQ holds the browser's digits waiting to go to the trunk by SIP
	// INFO (dtmfinfo.go); nil when digits go in the RTP stream.
	infoQ chan infoDigit
	// xfer is the browser's transfer of the call in progress (transfer.go).
	xfer transferState
	// A trunk's transfer of the call (trunkrefer.go): referring while its
	// new call is being placed, by a goroutine counted in referWG that
	// hands its outcome on referred (buffered: one at a time).
	referring atomic.Bool
	referWG   sync.WaitGroup
	referred  chan trunkTransfer
	// detached is set once a transfer by the gateway let the browser go
	// (transferbridge.go); target is then the transfer's call, bridged to
	// call, under mu.
	detached atomic.Bool
	target   *sip.Call
	// earlier are the uplink's and downlink's counters of the bridge a
	// transfer by the gateway replaced, under mu.
	earlier [2]bridge.Stats
	// attempts are the trunks tried for an outbound call (failover.go).
	attempts []Attempt

	// The call's record (records.go): the numbers as the caller gave
	// them, set before the session starts, and the first ringing or early
	// media, under mu.
	fromDialled, toDialled string
	ringAt                 time.Time
	// fromRewritten is the caller ID the dial authorisation gave
	// (webhooks.dial_auth), used on every trunk of the route instead of
	// the user's or the trunk's; empty when it gave none.
	fromRewritten string
	// pol is the call policy the session started with (policy.go): a
	// reload does not change a call in progress.
	pol *policy
	// ticket is the outbound call's count against the user's fraud limits
	// (limits.go), given back when it ends; longest is its longest
	// answered time from those limits (0: calls.max_duration only).
	ticket  *fraud.Ticket
	longest time.Duration
}

// newSession allocates a session; it starts nothing.
func (g *Gateway) newSession(c *wsConn, id, dir string, user auth.Identity) *session {
	ctx, cancel := context.WithCancelCause(g.callCtx)
	s := &session{
		g: g, id: id, dir: dir, user: user, conn: c, ctx: ctx, cancel: cancel,
		epoch: time.Now(), pol: g.policy(), referred: make(chan trunkTransfer, 1),
	}
	s.log = g.log.With("call_id", id, "user", user.UserID, "direction", dir)

	return s
}

// end ends the session with cause; the first cause wins.
func (s *session) end(cause error) { s.cancel(cause) }

// since is the time since the session started, the clock of the media
// counters.
func (s *session) since() int64 { return int64(time.Since(s.epoch)) }

// attach sets the browser leg and arms the ICE timer: a browser that has
// not connected within iceConnectTimeout ends the call with ice_failed.
func (s *session) attach(leg browser.Leg) {
	s.leg = leg
	s.mu.Lock()
	s.iceTimer = time.AfterFunc(time.Duration(s.g.iceTimeout.Load()), func() {
		select {
		case <-leg.Connected():
		default:
			s.end(errICEFailed)
		}
	})
	s.mu.Unlock()
}

// setSIPCallID records the trunk dialog's Call-ID for logs.
func (s *session) setSIPCallID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sipCallID == "" {
		s.sipCallID = id
		s.log = s.log.With("sip_call_id", id)
	}
}

// logger returns the session's logger (with the SIP Call-ID once known).
func (s *session) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.log
}

// established runs a call the trunk has answered: media bridged (already
// during early media, or now), connected sent, then supervised until it
// ends. It runs in the session goroutine.
func (s *session) established(call *sip.Call) {
	s.setSIPCallID(call.CallID())
	s.mu.Lock()
	s.call = call
	s.answeredAt = time.Now()
	s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	if err := s.startMedia(call); err != nil {
		s.end(err)

		return
	}
	s.mediaRef.Store(s.since())
	s.state.Store(int32(stateConnected))
	s.g.metrics.SetupSeconds.WithLabelValues(s.dir).Observe(time.Since(s.epoch).Seconds())
	s.conn.send(signaling.Connected{CallID: s.id})
	s.publishCall(webhook.CallAnswered)
	s.supervise(call)
}

// supervise waits for the end of an established call: the trunk ending
// it, the session's context, the media timeout, the maximum duration, the
// trunk's hold and resume, and a transfer by the trunk, which replaces
// call with the new party's (trunkrefer.go). A trunk that ends the call
// while its transfer is being placed ends the session only if the
// transfer fails.
func (s *session) supervise(call *sip.Call) {
	check := time.NewTicker(mediaCheckInterval)
	defer check.Stop()
	limit := s.pol.cfg.Calls.MaxDuration
	if s.longest > 0 {
		limit = min(limit, s.longest)
	}
	maxDur := time.NewTimer(limit)
	defer maxDur.Stop()
	var orphan *sip.Call // the call the trunk ended while transferring it
	var target *sip.Call // the transfer's call bridged to call, once handed over
	var targetDone <-chan struct{}
	var targetEvents <-chan sip.DialogEvent
	ended := call.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ended:
			if !s.referring.Load() {
				s.end(trunkEnded(call))

				return
			}
			orphan, ended = call, nil
			s.logger().Info("the trunk ended the call while transferring it")
		case <-targetDone:
			s.end(trunkEnded(target))

			return
		case ev := <-call.Events():
			switch {
			case ev.Kind == sip.EventRefer:
				s.trunkRefer(call, ev.Refer)
			case target != nil:
				s.logger().Info("dialog event of the transferred party not followed", "event", ev.Kind.String())
			default:
				s.dialogEvent(ev)
			}
		case ev := <-targetEvents:
			s.targetEvent(ev)
		case tr := <-s.referred:
			switch {
			case tr.call != nil && tr.bridged:
				s.referring.Store(false)
				if orphan != nil {
					// The party left while the target was called: the
					// target is hung up with the rest in finish.
					s.mu.Lock()
					s.target = tr.call
					s.mu.Unlock()
					s.end(trunkEnded(orphan))

					return
				}
				if err := s.handOver(call, tr.call); err != nil {
					s.logger().Warn("transfer hand-over failed", "error", err)
					s.mu.Lock()
					s.target = tr.call
					s.mu.Unlock()
					s.end(err)

					return
				}
				target, targetDone, targetEvents = tr.call, tr.call.Done(), tr.call.Events()
			case tr.call != nil:
				s.adoptTransfer(call, tr)
				call, ended, orphan = tr.call, tr.call.Done(), nil
			default:
				s.referring.Store(false)
				s.awaitTrunk(false)
				if orphan != nil {
					s.end(trunkEnded(orphan))

					return
				}
			}
		case <-check.C:
			if !s.referring.Load() && s.mediaTimedOut(s.since()) {
				s.end(errMediaTimeout)

				return
			}
		case <-maxDur.C:
			s.end(errMaxDuration)

			return
		}
	}
}

// dialogEvent follows the trunk's hold and resume (RFC 3264 section 8.4)
// and any new codec or telephone-event payload type an offer/answer
// exchange brought (RFC 3264 section 8.3.2), whichever side made the
// offer.
func (s *session) dialogEvent(ev sip.DialogEvent) {
	switch ev.Kind {
	case sip.EventHold:
		s.trunkH.Store(true)
		s.logger().Info("call held by the trunk")
		s.followTrunk(ev.Media)
		s.conn.send(signaling.Held{CallID: s.id})
	case sip.EventResume:
		s.trunkH.Store(false)
		s.mediaRef.Store(s.since())
		s.logger().Info("call resumed by the trunk")
		s.followTrunk(ev.Media)
		s.conn.send(signaling.Resumed{CallID: s.id})
	case sip.EventMediaChanged:
		s.logger().Info("trunk media changed", "remote", ev.Media.Remote.Addr.String(), "codec", ev.Media.Codec.String())
		s.followTrunk(ev.Media)
	case sip.EventRefreshFailed:
		s.logger().Warn("session refresh failed", "error", ev.Err)
	case sip.EventDigit:
		s.infoDigitReceived(ev)
	case sip.EventTransfer:
		s.transferProgress(ev)
	}
}

// mediaTimedOut reports whether either leg has been silent for longer
// than calls.media_timeout at time now (nanoseconds since the session's
// start), not counting time the trunk held the call.
func (s *session) mediaTimedOut(now int64) bool {
	if s.trunkH.Load() {
		return false
	}
	limit := int64(s.pol.cfg.Calls.MediaTimeout)
	ref := s.mediaRef.Load()
	up, down := s.mediaStats()
	for _, st := range []bridge.Stats{up, down} {
		last := max(int64(st.LastPacket), ref)
		if now-last > limit {
			return true
		}
	}

	return false
}

// finish ends both legs and releases everything once the session's
// context is done, then tells the browser, counts and logs the call. It
// runs at the end of the session goroutine.
func (s *session) finish() {
	<-s.ctx.Done()
	endAt := time.Now()
	cause := causeOf(context.Cause(s.ctx))
	s.mu.Lock()
	call, rtpConn, ic, stopBridge, target := s.call, s.rtp, s.ic, s.stopBridge, s.target
	if s.iceTimer != nil {
		s.iceTimer.Stop()
	}
	s.mu.Unlock()
	switch {
	case call != nil:
		hctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
		if err := call.Hangup(hctx); err != nil {
			s.logger().Debug("hangup", "error", err)
		}
		cancel()
	case ic != nil:
		code, text := rejectStatus(cause.Reason)
		_ = ic.Reject(code, text)
	}
	if target != nil {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), hangupTimeout)
		if err := target.Hangup(hctx); err != nil {
			s.logger().Debug("hangup of the transfer's call", "error", err)
		}
		cancel()
	}
	if rtpConn != nil {
		_ = rtpConn.Close()
	}
	if s.leg != nil {
		_ = s.leg.Close()
	}
	if stopBridge != nil {
		stopBridge()
	}
	s.dropTransfer()
	s.bridgeWG.Wait()
	s.holdWG.Wait()
	s.describeBridge()
	// Both legs are released: the call no longer counts against the
	// user's or the gateway's limit, even for a browser that dials again
	// the moment it reads its hangup.
	s.g.hub.release(s.user.UserID)
	s.slot.release()
	if !s.detached.Load() {
		s.conn.send(signaling.HangupEvent{CallID: s.id, Reason: cause.Reason, SIPCode: cause.SIPCode, SIPReason: cause.SIPText})
		s.conn.removeCall(s.id, s)
	}
	s.record(cause, rtpConn, endAt)
	s.g.sessions.remove(s)
}

// rejectStatus is the final response an inbound call gets when its session
// ends before the trunk was answered (RFC 3261 section 21).
func rejectStatus(r signaling.Reason) (int, string) {
	switch r {
	case signaling.ReasonShutdown:
		return 503, "Service Unavailable"
	case signaling.ReasonICEFailed, signaling.ReasonFailed, signaling.ReasonSignalingLost:
		return 480, "Temporarily Unavailable"
	default:
		return 603, "Decline"
	}
}

// record adds the call to the metrics and writes its one log line and its
// record; end is when the session ended.
func (s *session) record(cause *endError, rtpConn *sip.RTPConn, end time.Time) {
	m := s.g.metrics
	m.CallsActive.WithLabelValues(s.dir).Dec()
	m.CallsTotal.WithLabelValues(s.dir, string(cause.Reason)).Inc()
	up, down := s.mediaStats()
	for _, l := range []struct {
		name string
		st   bridge.Stats
	}{{mediaUplink, up}, {mediaDownlink, down}} {
		m.Packets.WithLabelValues(l.name).Add(float64(l.st.Received))
		m.PacketsLost.WithLabelValues(l.name).Add(float64(l.st.Lost))
		m.TranscodeSeconds.WithLabelValues(l.name).Add(l.st.Transcode.Seconds())
	}
	var foreign uint64
	if rtpConn != nil {
		foreign = rtpConn.Stats().DroppedForeign
		m.PacketsDropped.WithLabelValues(mediaDownlink).Add(float64(foreign))
	}
	s.mu.Lock()
	answered, codecs, log, attempts := s.answeredAt, s.codecs, s.log, attemptsAttr(s.attempts)
	s.mu.Unlock()
	rec := s.sessionRecord(cause, end)
	var talked time.Duration
	if !rec.Answer.IsZero() {
		talked = rec.End.Sub(rec.Answer.Time)
	}
	s.g.endLimits(s.ticket, talked)
	s.g.writeRecord(rec)
	setup, talk := end.Sub(s.epoch), time.Duration(0)
	if !answered.IsZero() {
		setup, talk = answered.Sub(s.epoch), end.Sub(answered)
	}
	attrs := []any{
		"from", s.from, "to", s.to, "trunk", s.trunk, "codecs", codecs,
		"setup", setup.Round(time.Millisecond), "talk", talk.Round(time.Millisecond),
		"uplink_packets", up.Received, "uplink_sent", up.Sent, "uplink_lost", up.Lost,
		"uplink_dropped", up.Dropped,
		"downlink_packets", down.Received, "downlink_sent", down.Sent, "downlink_lost", down.Lost,
		"downlink_dropped", down.Dropped, "downlink_foreign", foreign,
		"reason", string(cause.Reason),
	}
	attrs = append(attrs, s.qualityAttrs(rec, up, down)...)
	if cause.SIPCode != 0 {
		attrs = append(attrs, "sip_code", cause.SIPCode, "sip_reason", cause.SIPText)
	}
	if attempts != "" {
		attrs = append(attrs, "attempts", attempts)
	}
	attrs = append(attrs, s.srtpAttrs(rtpConn)...)
	if cause.Err != nil {
		attrs = append(attrs, "cause", cause.Err.Error())
	}
	log.Info("call ended", attrs...)
}
