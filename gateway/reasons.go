package gateway

import (
	"context"
	"errors"
	"strconv"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// Causes a session ends with, besides those that come from the trunk. Each
// is the context cause of the session (context.WithCancelCause) and says
// what the browser is told in its hangup message.
var (
	// errLocalHangup: the browser sent hangup.
	errLocalHangup = errors.New("gateway: hung up by the browser")
	// errConnClosed: the browser's WebSocket closed while the call was up.
	errConnClosed = errors.New("gateway: signaling connection closed")
	// errSignalingLost: the browser's WebSocket dropped and nobody resumed
	// its calls within calls.resume_window.
	errSignalingLost = errors.New("gateway: signaling connection lost, not resumed in time")
	// errICEFailed: ICE or DTLS with the browser failed or did not complete.
	errICEFailed = errors.New("gateway: ice or dtls with the browser failed")
	// errMediaTimeout: no RTP arrived on a leg for calls.media_timeout.
	errMediaTimeout = errors.New("gateway: media timeout")
	// errMaxDuration: the call reached calls.max_duration.
	errMaxDuration = errors.New("gateway: maximum call duration reached")
	// errRingTimeout: nobody answered within the ring timeout.
	errRingTimeout = errors.New("gateway: ring timeout")
	// errShutdown: the gateway shut down and ended the call.
	errShutdown = errors.New("gateway: shutting down")
	// errAnsweredElsewhere: another session of the user accepted the call.
	errAnsweredElsewhere = errors.New("gateway: answered elsewhere")
	// errRejected: the browser declined an inbound call.
	errRejected = errors.New("gateway: rejected by the browser")
	// errNoBrowser: every browser ringing for an inbound call went away.
	errNoBrowser = errors.New("gateway: no browser left to ring")
)

// endError is how a call ended, as the browser is told in its hangup
// message: the protocol reason, and the SIP status code and text of the
// trunk's final response or of the Reason header of its BYE or CANCEL
// (RFC 3326) when there was one (0 and "" otherwise).
type endError struct {
	Reason  signaling.Reason
	SIPCode int
	SIPText string
	Err     error
}

// Error describes the cause for logs.
func (c *endError) Error() string {
	s := string(c.Reason)
	if c.SIPCode != 0 {
		s += " (" + strconv.Itoa(c.SIPCode)
		if c.SIPText != "" {
			s += " " + c.SIPText
		}
		s += ")"
	}
	if c.Err != nil {
		s += ": " + c.Err.Error()
	}

	return s
}

// Unwrap returns the underlying error.
func (c *endError) Unwrap() error { return c.Err }

// statusReason maps the status code of a final failure response to an
// outbound INVITE (RFC 3261 section 21) to a hang-up reason, as the
// protocol documents it: 486 and 600 busy, 408 and 480 no_answer, 603
// rejected (declined), 487 cancelled by us, every other failure failed.
func statusReason(code int) signaling.Reason {
	switch code {
	case 486, 600:
		return signaling.ReasonBusy
	case 408, 480:
		return signaling.ReasonNoAnswer
	case 603:
		return signaling.ReasonRejected
	default:
		return signaling.ReasonFailed
	}
}

// causeOf classifies why a call ended: a cause set by the gateway, a SIP
// failure response, a BYE from either side (with its Reason header), an
// inbound call cancelled or timed out, the user agent shutting down, or
// anything else (failed).
func causeOf(err error) *endError {
	var ec *endError
	if errors.As(err, &ec) {
		return ec
	}
	var se *sip.StatusError
	if errors.As(err, &se) {
		reason := statusReason(se.Code)
		if errors.Is(err, sip.ErrDialogLost) {
			// A 408 or 481 to a re-INVITE: the trunk lost the call, nobody failed to answer.
			reason = signaling.ReasonFailed
		}

		return &endError{Reason: reason, SIPCode: se.Code, SIPText: se.Reason, Err: err}
	}
	var he *sip.HangupError
	if errors.As(err, &he) {
		reason := signaling.ReasonRemoteHangup
		if he.By == sip.Local {
			reason = signaling.ReasonLocalHangup
		}

		return &endError{Reason: reason, SIPCode: he.Cause, SIPText: he.Text, Err: err}
	}
	reason := signaling.ReasonFailed
	switch {
	case errors.Is(err, errLocalHangup), errors.Is(err, errConnClosed):
		reason = signaling.ReasonLocalHangup
	case errors.Is(err, errSignalingLost):
		reason = signaling.ReasonSignalingLost
	case errors.Is(err, errICEFailed):
		reason = signaling.ReasonICEFailed
	case errors.Is(err, errMediaTimeout):
		reason = signaling.ReasonMediaTimeout
	case errors.Is(err, errMaxDuration):
		reason = signaling.ReasonMaxDuration
	case errors.Is(err, errRingTimeout), errors.Is(err, sip.ErrRingTimeout):
		reason = signaling.ReasonRingTimeout
	case errors.Is(err, errShutdown), errors.Is(err, sip.ErrShuttingDown):
		reason = signaling.ReasonShutdown
	case errors.Is(err, errAnsweredElsewhere), errors.Is(err, sip.ErrAnsweredElsewhere):
		reason = signaling.ReasonAnsweredElsewhere
	case errors.Is(err, errRejected):
		reason = signaling.ReasonRejected
	case errors.Is(err, sip.ErrCanceled):
		reason = signaling.ReasonCancelled
	case errors.Is(err, context.Canceled):
		reason = signaling.ReasonLocalHangup
	}

	return &endError{Reason: reason, Err: err}
}

// callError is a dial or accept refused before the call existed, or any
// other client message that could not be carried out: the protocol error
// code and the message for people (RFC-free, protocol section "error").
type callError struct {
	Code signaling.Code
	Msg  string
	Err  error
}

// Error returns "code: message".
func (e *callError) Error() string { return string(e.Code) + ": " + e.Msg }

// Unwrap returns the underlying error.
func (e *callError) Unwrap() error { return e.Err }

// replyFor turns an error of a client message into the error reply to send.
func replyFor(err error, callID, ref string) signaling.ErrorReply {
	var ce *callError
	if !errors.As(err, &ce) {
		ce = &callError{Code: signaling.CodeInternal, Msg: "internal error"}
	}

	return signaling.ErrorReply{Code: ce.Code, Message: ce.Msg, CallID: callID, Ref: ref}
}
