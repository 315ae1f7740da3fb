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

// sessionTimer is the negotiated session timer of a dialog (RFC 4028).
type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	refresher Party         // Local: we send refreshes; Remote: we expect them
	param     string        // refresher parameter as written: "uac" or "uas"
	since     time.Time     // last successful refresh
}

// addHeaders writes Session-Expires (and Require: timer when the UAC refreshes) into a 2xx
// (RFC 4028 section 9).
func (t sessionTimer) addHeaders(res *sipmsg.Response) {
	if t.interval <= 0 {
		return
	}
	res.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(t.interval.Seconds()), t.param)))
	if t.param == "uac" {
		res.AppendHeader(sipmsg.NewHeader("Require", "timer"))
	}
}

// due is how long after the last refresh the call's monitor acts: it sends a refresh at half the
// interval when we are the refresher, and otherwise ends the session at the interval minus
// min(32 s, interval/3) without a refresh (RFC 4028 section 10).
func (t sessionTimer) due() time.Duration {
	if t.refresher == Local {
		return t.interval / 2
	}
	return t.interval - min(32*time.Second, t.interval/3)
}

// addRequestHeaders writes Session-Expires and Min-SE into a re-INVITE of ours that refreshes the
// session (RFC 4028 section 7.4), keeping the refresher role; nothing without a session timer.
func (t sessionTimer) addRequestHeaders(req *sipmsg.Request, minSE time.Duration) {
	if t.interval <= 0 {
		return
	}
	refresher := "uac"
	if t.refresher == Remote {
		refresher = "uas"
	}
	req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(t.interval.Seconds()), refresher)))
	req.AppendHeader(sipmsg.NewHeader("Min-SE", itoa(int(minSE.Seconds()))))
}

// timerState is a call's current session timer; kick wakes the call's monitor when it changes.
type timerState struct {
	mu   sync.Mutex
	cur  sessionTimer
	kick chan struct{}
}

func newTimerState() *timerState { return &timerState{kick: make(chan struct{}, 1)} }

// get returns the current session timer.
func (s *timerState) get() sessionTimer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// set installs t as it is, without waking the monitor.
func (s *timerState) set(t sessionTimer) {
	s.mu.Lock()
	s.cur = t
	s.mu.Unlock()
}

// restart installs t as refreshed now and wakes the monitor.
func (s *timerState) restart(t sessionTimer) {
	t.since = time.Now()
	s.set(t)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// intervalTooSmallError asks for a 422 response with Min-SE (RFC 4028 section 9).
type intervalTooSmallError struct{ minSE time.Duration }

func (e *intervalTooSmallError) Error() string {
	return fmt.Sprintf("sip: session interval below min-SE %d s", int(e.minSE.Seconds()))
}

// SIPStatus returns 422.
func (e *intervalTooSmallError) SIPStatus() int { return 422 }

// parseSessionExpires reads a Session-Expires value ("1800;refresher=uac", RFC 4028 section 4).
func parseSessionExpires(v string) (time.Duration, string, error) {
	parts := strings.Split(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return 0, "", fmt.Errorf("%w: Session-Expires %q", ErrBadRequest, v)
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return time.Duration(n) * time.Second, refresher, nil
}

func sessionExpiresHeader(m interface{ GetHeader(string) sipmsg.Header }) string {
	if v := headerValue(m, "Session-Expires"); v != "" {
		return v
	}
	return headerValue(m, "x") // compact form
}

// parseMinSE reads a Min-SE value in seconds (RFC 4028 section 5); 0 when absent or unreadable.
func parseMinSE(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(v, ";")[0]))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// negotiateSessionTimer decides the session timer for a request we answer as UAS (the initial
// INVITE, or a re-INVITE/UPDATE refresh) per RFC 4028 section 9. No Session-Expires means no
// session timer. An interval below our Min-SE is refused with 422 when the UAC supports timers.
func (ua *UA) negotiateSessionTimer(req *sipmsg.Request) (sessionTimer, error) {
	v := sessionExpiresHeader(req)
	if v == "" {
		return sessionTimer{}, nil
	}
	interval, refresher, err := parseSessionExpires(v)
	if err != nil {
		return sessionTimer{}, &StatusError{Code: 400, Reason: "Bad Request", Err: err}
	}
	supported := hasOptionTag(req, "Supported", "timer") || hasOptionTag(req, "Require", "timer")
	if interval < ua.cfg.MinSE {
		if supported {
			return sessionTimer{}, &intervalTooSmallError{minSE: ua.cfg.MinSE}
		}
		interval = ua.cfg.MinSE
	}
	if refresher != "uac" && refresher != "uas" {
		refresher = "uas"
		if supported {
			refresher = "uac"
		}
	}
	t := sessionTimer{interval: interval, param: refresher, refresher: Remote, since: time.Now()}
	if refresher == "uas" {
		t.refresher = Local
	}
	return t, nil
}

// timerFromResponse reads the session timer a 2xx to our INVITE set up (RFC 4028 section 7.2):
// refresher=uac means we refresh.
func timerFromResponse(res *sipmsg.Response) sessionTimer {
	v := sessionExpiresHeader(res)
	if v == "" {
		return sessionTimer{}
	}
	interval, refresher, err := parseSessionExpires(v)
	if err != nil {
		return sessionTimer{}
	}
	if refresher == "" {
		refresher = "uac"
	}
	t := sessionTimer{interval: interval, param: refresher, refresher: Remote, since: time.Now()}
	if refresher == "uac" {
		t.refresher = Local
	}
	return t
}

// restartTimer installs t as the current session timer and wakes the monitor.
func (c *Call) restartTimer(t sessionTimer) { c.timer.restart(t) }

// monitor is the call's goroutine: it sends session refreshes when we are the refresher
// (at half the interval, RFC 4028 section 10) and ends the call with a BYE when the trunk
// lets the session expire (interval minus min(32 s, interval/3) without a refresh).
func (c *Call) monitor() {
	defer c.ua.leave()
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		st := c.timer.get()
		var fire <-chan time.Time
		tm.Stop()
		if st.interval > 0 {
			tm.Reset(time.Until(st.since.Add(st.due())))
			fire = tm.C
		}
		select {
		case <-c.done:
			return
		case <-c.timer.kick:
		case <-fire:
			if st.refresher == Local {
				c.refresh(st)
				continue
			}
			c.log.Warn("sip session expired without refresh", "interval", st.interval)
			c.abort(ErrSessionExpired)
		}
	}
}

// refresh sends a session refresh (RFC 4028 section 7.4): a re-INVITE on the path Hold uses,
// offering our current description (unchanged, so with the same o= version, RFC 3264 section 8).
// On failure it reports EventRefreshFailed and retries after a quarter interval; 408 or 481 and
// transaction timeouts end the call (RFC 4028 section 10). While another re-INVITE is in
// progress it waits for that one's outcome in the same way.
func (c *Call) refresh(st sessionTimer) {
	retryLater := func(err error) {
		c.emit(DialogEvent{Kind: EventRefreshFailed, Media: c.Media(), Err: err})
		st.since = st.since.Add(st.interval / 4)
		c.timer.set(st)
	}
	if !c.dialog.tryAcquireInvite() {
		retryLater(ErrRequestPending)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, lost, err := c.renegotiate(ctx, c.media.localHold(), st)
	switch {
	case lost:
		c.log.Warn("sip session refresh failed, ending call", "error", err)
		c.abort(fmt.Errorf("%w: refresh failed: %w", ErrSessionExpired, err))
	case errors.Is(err, ErrCallEnded):
	case err != nil:
		c.log.Warn("sip session refresh failed", "error", err)
		retryLater(err)
	}
}
