package gateway

import (
	"errors"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// holdState is the browser's hold and resume of one call: what it asked
// for last and what the trunk has agreed to. One goroutine at a time
// brings the trunk to the wanted state with re-INVITEs (sip.Call.Hold and
// Resume), so the read loop never waits for the trunk and messages take
// effect in the order they came.
type holdState struct {
	want    bool   // the browser's last request: held
	ref     string // the ref of that request, for its error reply
	seq     uint64 // counts requests, to tell a failure's request from a newer one
	have    bool   // the state the trunk agreed to
	running bool   // a goroutine is sending re-INVITEs
}

// hold puts a call on hold or resumes it. Hold mutes the browser's audio
// and DTMF towards the trunk at once (the trunk receives G.711 silence,
// so that its RTP timeout does not end the call) and puts the trunk on
// hold with a re-INVITE (a=sendonly, RFC 3264 section 8.4); resume takes
// it off hold (a=sendrecv) and unmutes once the trunk agreed. The
// re-INVITE runs in the background; if the trunk refuses it, the browser
// gets an error and the call keeps its previous state.
func (c *wsConn) hold(id string, on bool, ref string) error {
	s, err := c.connected(id)
	if err != nil {
		return err
	}
	s.requestHold(on, ref)

	return nil
}

// requestHold records the browser's wish and starts the goroutine that
// carries it out unless one is running.
func (s *session) requestHold(on bool, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.hold
	h.want, h.ref = on, ref
	h.seq++
	s.muteLocked(h.want || h.have)
	if h.running || h.want == h.have || s.call == nil || s.ctx.Err() != nil {
		return
	}
	h.running = true
	s.holdWG.Add(1)
	go s.runHold(s.call)
}

// runHold sends re-INVITEs until the trunk's state is the browser's last
// wish, reporting each failure to the browser with the ref of the request
// that failed.
func (s *session) runHold(call *sip.Call) {
	defer s.holdWG.Done()
	for {
		s.mu.Lock()
		h := &s.hold
		want, ref, seq := h.want, h.ref, h.seq
		if want == h.have || s.ctx.Err() != nil {
			h.running = false
			s.muteLocked(h.want || h.have)
			s.mu.Unlock()

			return
		}
		s.mu.Unlock()
		var err error
		if want {
			err = call.Hold(s.ctx)
		} else {
			err = call.Resume(s.ctx)
		}
		s.mu.Lock()
		if err == nil {
			h.have = want
			s.muteLocked(h.want || h.have)
			s.mu.Unlock()
			s.logger().Info("trunk hold", "held", want)

			continue
		}
		if h.seq == seq {
			// The browser asked nothing since: the call keeps its state.
			h.want = h.have
			s.muteLocked(h.have)
		}
		s.mu.Unlock()
		if s.ctx.Err() != nil || errors.Is(err, sip.ErrCallEnded) {
			continue // the call's hangup tells the browser
		}
		s.logger().Warn("trunk hold failed", "held", want, "error", err)
		s.conn.send(replyFor(holdError(err), s.id, ref))
	}
}

// holdError maps a failed hold or resume to the browser's error: the trunk
// refused or did not answer the re-INVITE, or something else went wrong.
func holdError(err error) error {
	var se *sip.StatusError
	switch {
	case errors.As(err, &se):
		return &callError{Code: signaling.CodeTrunkUnavailable, Msg: "the trunk refused the re-INVITE: " + se.Error(), Err: err}
	case errors.Is(err, sip.ErrNoResponse):
		return &callError{Code: signaling.CodeTrunkUnavailable, Msg: "the trunk did not answer the re-INVITE", Err: err}
	default:
		return &callError{Code: signaling.CodeInternal, Msg: "hold failed", Err: err}
	}
}
