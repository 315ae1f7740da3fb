package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"
)

// DTMF by SIP INFO: for a trunk with dtmf info (or auto, when its SDP
// negotiated no telephone-event), the browser's digits, whether RFC 4733
// events of its WebRTC stream or dtmf messages, go to the trunk one INFO
// per digit, in order, from one goroutine per call; digits the trunk
// sends by INFO reach the browser as dtmf events, as its RTP digits do.

// infoDigit is one digit waiting to go to the trunk by SIP INFO, with how
// long its key was pressed.
type infoDigit struct {
	digit    rune
	duration time.Duration
}

// infoQueueLen bounds the digits waiting for their INFO; more are
// refused (dtmf messages) or dropped and counted (RTP events).
const infoQueueLen = 32

// messageDigitDuration is the Duration of the INFO of a digit from a dtmf
// message, which says none.
const messageDigitDuration = 250 * time.Millisecond

// Outcomes of webtrunk_dtmf_info_total.
const (
	infoSent     = "sent"
	infoFailed   = "failed"
	infoDropped  = "dropped"
	infoReceived = "received"
)

// digitsByInfo reports whether the browser's digits go to call's trunk by
// SIP INFO: its dtmf is info, or auto and its answer has no
// telephone-event.
func (s *session) digitsByInfo(call *sip.Call) bool {
	t, ok := s.pol.cfg.Trunk(call.Trunk())
	if !ok {
		return false
	}
	switch t.DTMF {
	case config.DTMFInfo:
		return true
	case config.DTMFAuto:
		return call.Media().TelephoneEventPT == 0
	default:
		return false
	}
}

// browserDigit queues a digit of the browser's RTP stream for its INFO;
// called by the bridge's uplink goroutine, it never blocks: with the
// queue full the digit is dropped and counted.
func (s *session) browserDigit(d rune, duration time.Duration) {
	select {
	case s.infoQ <- infoDigit{d, duration}:
	default:
		s.g.metrics.DTMFInfo.WithLabelValues(infoDropped).Inc()
		s.logger().Warn("dtmf INFO queue full: digit dropped", "digit", string(d))
	}
}

// queueInfoDigits queues the digits of a dtmf message for their INFOs. An
// invalid digit refuses the message, queueing nothing; a queue that
// cannot take them all refuses the rest.
func (s *session) queueInfoDigits(q chan<- infoDigit, digits string) error {
	for _, d := range digits {
		if _, ok := transcode.EventForDigit(d); !ok {
			err := fmt.Errorf("%w: %q", transcode.ErrDTMFDigit, d)

			return &callError{Code: signaling.CodeBadRequest, Msg: "digits: " + err.Error(), Err: err}
		}
	}
	for _, d := range digits {
		select {
		case q <- infoDigit{d, messageDigitDuration}:
		default:
			err := transcode.ErrDTMFQueueFull

			return &callError{Code: signaling.CodeBadRequest, Msg: "digits: " + err.Error(), Err: err}
		}
	}

	return nil
}

// sendInfoDigits sends the queued digits to the trunk one INFO at a time
// until ctx ends (the bridge stops): in call's dialog, or in the dialog of
// the call a trunk's transfer gave the session since; a failed INFO is
// logged and counted, and the next digit goes on.
func (s *session) sendInfoDigits(ctx context.Context, call *sip.Call, q <-chan infoDigit) {
	defer s.bridgeWG.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-q:
			s.mu.Lock()
			if s.call != nil {
				call = s.call
			}
			s.mu.Unlock()
			if err := call.SendDigit(ctx, d.digit, d.duration); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.g.metrics.DTMFInfo.WithLabelValues(infoFailed).Inc()
				s.logger().Warn("dtmf INFO failed", "digit", string(d.digit), "error", err)

				continue
			}
			s.g.metrics.DTMFInfo.WithLabelValues(infoSent).Inc()
			s.logger().Debug("dtmf INFO sent", "digit", string(d.digit), "duration_ms", d.duration.Milliseconds())
		}
	}
}

// infoDigitReceived passes a digit the trunk sent by INFO to the browser
// as a dtmf event.
func (s *session) infoDigitReceived(ev sip.DialogEvent) {
	s.g.metrics.DTMFInfo.WithLabelValues(infoReceived).Inc()
	s.logger().Debug("dtmf INFO received", "digit", string(ev.Digit), "duration_ms", ev.Duration.Milliseconds())
	s.digit(ev.Digit)
}
