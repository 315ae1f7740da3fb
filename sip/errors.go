package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Sentinel errors of the user agent. Match them with errors.Is.
var (
	// ErrInvalidConfig wraps every problem NewUA finds in a Config (all of them, joined).
	ErrInvalidConfig = errors.New("sip: invalid config")
	// ErrServeState is returned by Serve when called twice or without a handler.
	ErrServeState = errors.New("sip: Serve misuse")
	// ErrClosed is returned by Listen and Serve once UA.Close has been called.
	ErrClosed = errors.New("sip: user agent closed")
	// ErrBadRequest is the reason an INVITE or in-dialog request that lacks a required header or
	// carries an unreadable one is answered 400 (RFC 3261 section 8.2.2).
	ErrBadRequest = errors.New("sip: malformed request")
	// ErrBadStatus is returned by IncomingCall.Reject for a code outside 300..699.
	ErrBadStatus = errors.New("sip: status code out of range")
	// ErrRequestPending means our own re-INVITE is in progress (RFC 3261 section 14.1).
	ErrRequestPending = errors.New("sip: re-INVITE in progress")
	// ErrUnknownTrunk is returned by Dial when DialRequest.Trunk names no configured trunk.
	ErrUnknownTrunk = errors.New("sip: unknown trunk")
	// ErrTooManyCalls is returned by Dial when the trunk already carries Trunk.MaxCalls calls;
	// an inbound INVITE over the limit is answered 503 (RFC 3261 section 21.5.4).
	ErrTooManyCalls = errors.New("sip: too many calls on trunk")
	// ErrNotServing is returned by Dial before Serve has bound its listeners or after it returned.
	ErrNotServing = errors.New("sip: user agent is not serving")
	// ErrShuttingDown is the cause of calls ended because Serve's context was cancelled or Close
	// was called; new inbound INVITEs are answered 503 and Dial returns it from then on.
	ErrShuttingDown = errors.New("sip: user agent shutting down")
	// ErrNoTransport is returned when a trunk uses a transport that has no listener.
	ErrNoTransport = errors.New("sip: no listener for the trunk's transport")
	// ErrAckTimeout is the cause of a call whose 2xx was retransmitted for 64*T1 without an ACK
	// (RFC 3261 section 13.3.1.4); the call is ended with a BYE.
	ErrAckTimeout = errors.New("sip: no ACK received for 2xx")
	// ErrSessionExpired is the cause of a call whose session timer ran out without a refresh
	// (RFC 4028 section 10); the call is ended with a BYE.
	ErrSessionExpired = errors.New("sip: session timer expired")
	// ErrCanceled is the cause of an IncomingCall ended by a CANCEL from the trunk (RFC 3261 section 9.2).
	ErrCanceled = errors.New("sip: call canceled by the caller")
	// ErrAnsweredElsewhere accompanies ErrCanceled (both match) when the trunk's CANCEL said
	// the call was answered elsewhere: a Reason header with protocol SIP and cause 200 (RFC
	// 3326 section 2), as a forking proxy sends to the branches that lost.
	ErrAnsweredElsewhere = errors.New("sip: call answered elsewhere")
	// ErrRingTimeout is the cause of an IncomingCall that was neither answered nor rejected
	// within Config.RingTimeout; the trunk receives 480.
	ErrRingTimeout = errors.New("sip: incoming call not answered in time")
	// ErrCallFinalized is returned by IncomingCall methods after a final response was sent or the call ended.
	ErrCallFinalized = errors.New("sip: incoming call already finalized")
	// ErrAuthFailed wraps the StatusError of a challenge that could not be answered: no
	// credentials, a realm other than Trunk.Realm, a second challenge for the same credentials, or a 403 to a REGISTER carrying them.
	ErrAuthFailed = errors.New("sip: authentication failed")
	// ErrBadAnswer is returned by Dial when the 2xx carries no usable SDP answer; the call is
	// acknowledged and ended with a BYE (RFC 3261 section 13.2.2.4).
	ErrBadAnswer = errors.New("sip: unusable SDP answer in 2xx")
	// ErrNoAnswerInAck ends an inbound call made with a late offer (INVITE without SDP) whose ACK
	// carried no usable SDP answer to our offer in the 2xx (RFC 3261 section 13.2.1); the call is
	// ended with a BYE.
	ErrNoAnswerInAck = errors.New("sip: ACK without a usable SDP answer")
	// ErrUnsupportedBody is the reason an INVITE whose body is not application/sdp gets 415.
	ErrUnsupportedBody = errors.New("sip: unsupported message body")
	// ErrUnknownSource is the reason an out-of-dialog request from an address no trunk allows is refused (403).
	ErrUnknownSource = errors.New("sip: request from an address no trunk allows")
)

// StatusError is a final SIP failure response: to Dial it is the trunk's answer (for example 486
// Busy Here), and it is also how this package decides which response it sends when it refuses a
// request. Reason holds the text of the Reason header (RFC 3326) when present, otherwise the
// status line's reason phrase. Match it with errors.As.
type StatusError struct {
	// Code is the SIP status code, 300..699.
	Code int
	// Reason is the Reason header's text (RFC 3326) or the reason phrase of the status line.
	Reason string
	// Cause is the Q.850 or SIP cause number from the Reason header, 0 when absent.
	Cause int
	// Err is an optional underlying error (for example ErrNoCommonCodec).
	Err error

	response *sipmsg.Response // the response this error came from, when received
}

// Error returns "sip: <code> <reason>".
func (e *StatusError) Error() string {
	s := "sip: " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += " " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error, if any.
func (e *StatusError) Unwrap() error { return e.Err }

// header returns a header of the response the error came from, "" when none.
func (e *StatusError) header(name string) string {
	if e.response == nil {
		return ""
	}
	return headerValue(e.response, name)
}

// SIPStatus returns the status code the error stands for.
func (e *StatusError) SIPStatus() int { return e.Code }

// Party says which side of a call did something.
type Party int

const (
	// Local is this gateway.
	Local Party = iota
	// Remote is the trunk.
	Remote
)

// String returns "local" or "remote".
func (p Party) String() string {
	if p == Remote {
		return "remote"
	}
	return "local"
}

// HangupError is the cause of a call that ended normally with a BYE (RFC 3261 section 15).
// By says who sent it. Protocol, Cause and Text come from the BYE's Reason header (RFC 3326),
// for example Protocol "Q.850" and Cause 16; they are empty when the BYE had none.
type HangupError struct {
	By       Party
	Protocol string
	Cause    int
	Text     string
}

// Error returns a text such as `sip: call hung up by remote (Q.850 cause 16 "Normal call clearing")`.
func (e *HangupError) Error() string {
	s := "sip: call hung up by " + e.By.String()
	if e.Protocol != "" {
		s += fmt.Sprintf(" (%s cause %d", e.Protocol, e.Cause)
		if e.Text != "" {
			s += fmt.Sprintf(" %q", e.Text)
		}
		s += ")"
	}
	return s
}

// statusFor maps an error met while handling an incoming INVITE to the response to send.
// Errors that know their status (StatusError) win; the SDP sentinels follow RFC 3261
// section 21.4 (400 malformed, 488 not acceptable here).
func statusFor(err error) (int, string) {
	var se *StatusError
	var small *intervalTooSmallError
	switch {
	case errors.As(err, &se):
		return se.Code, se.Reason
	case errors.As(err, &small):
		return 422, "Session Interval Too Small"
	case errors.Is(err, ErrSDPMalformed):
		return 400, "Bad Request"
	case errors.Is(err, ErrNoAudio), errors.Is(err, ErrNoCommonCodec), errors.Is(err, ErrBadCrypto):
		return 488, "Not Acceptable Here"
	case errors.Is(err, ErrUnsupportedBody):
		return 415, "Unsupported Media Type"
	case errors.Is(err, ErrNoPorts), errors.Is(err, ErrTooManyCalls), errors.Is(err, ErrShuttingDown):
		return 503, "Service Unavailable"
	case errors.Is(err, ErrUnknownSource):
		return 403, "Forbidden"
	default:
		return 500, "Server Internal Error"
	}
}

// parseReason reads a Reason header value (RFC 3326), e.g. `Q.850;cause=16;text="Normal call clearing"`.
func parseReason(v string) (protocol string, cause int, text string) {
	parts := strings.Split(v, ";")
	protocol = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cause":
			cause, _ = strconv.Atoi(strings.TrimSpace(val))
		case "text":
			text = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return protocol, cause, text
}

// statusErrorFrom converts a final failure response into a *StatusError, preferring the Reason
// header's text (RFC 3326) over the reason phrase.
func statusErrorFrom(res *sipmsg.Response) *StatusError {
	se := &StatusError{Code: res.StatusCode, Reason: res.Reason, response: res}
	if v := headerValue(res, "Reason"); v != "" {
		_, cause, text := parseReason(v)
		se.Cause = cause
		if text != "" {
			se.Reason = text
		}
	}
	return se
}
