package signaling

import "slices"

// Code is the stable, machine-readable code of an [ErrorReply]. Clients
// branch on the code; the accompanying message is for people and may change.
type Code string

// Error codes. The set is part of protocol version 1: codes are never
// renamed or given a new meaning, only added.
const (
	// CodeUnauthorized: authentication failed (bad password, invalid or
	// expired token, too many attempts from the client's address).
	CodeUnauthorized Code = "unauthorized"
	// CodeUnsupportedVersion: the auth message announced a protocol version
	// the server does not speak.
	CodeUnsupportedVersion Code = "unsupported_version"
	// CodeBadRequest: the frame is not a valid message (malformed JSON,
	// missing, unknown or invalid field, frame too large).
	CodeBadRequest Code = "bad_request"
	// CodeUnknownType: the frame's "type" names no client message.
	CodeUnknownType Code = "unknown_type"
	// CodeOutOfOrder: the message is valid but not allowed in the current
	// state (anything but auth before authentication, accept of a call that
	// is not ringing, a reused call id, ...).
	CodeOutOfOrder Code = "out_of_order"
	// CodeForbiddenNumber: the user's dial rules deny the dialled number.
	CodeForbiddenNumber Code = "forbidden_number"
	// CodeInvalidNumber: the dialled number is not a dialable number.
	CodeInvalidNumber Code = "invalid_number"
	// CodeTooManyCalls: the user already has as many calls as allowed.
	CodeTooManyCalls Code = "too_many_calls"
	// CodeBusy: the called party is busy (SIP 486 or 600).
	CodeBusy Code = "busy"
	// CodeNoAnswer: the called party did not answer in time (SIP 408, 480).
	CodeNoAnswer Code = "no_answer"
	// CodeTrunkUnavailable: no trunk could take the call (none routed, none
	// registered, or the trunk failed with a 5xx response or a timeout).
	CodeTrunkUnavailable Code = "trunk_unavailable"
	// CodeICEFailed: ICE or DTLS with the browser failed (RFC 8445, RFC 5763).
	CodeICEFailed Code = "ice_failed"
	// CodeNoCommonCodec: the browser's offer has no audio or no codec the
	// gateway speaks (SIP 488 on the trunk side).
	CodeNoCommonCodec Code = "no_common_codec"
	// CodeNotFound: the call_id names no call of this connection.
	CodeNotFound Code = "not_found"
	// CodeShuttingDown: the gateway is draining and takes no new calls.
	CodeShuttingDown Code = "shutting_down"
	// CodeOverCapacity: the gateway already carries as many calls as it is
	// configured for (calls.max_concurrent) and takes no new call until
	// one ends; the client may try again shortly.
	CodeOverCapacity Code = "over_capacity"
	// CodeInternal: an unexpected server-side failure.
	CodeInternal Code = "internal"
	// CodeTryLater: the password could not be checked now (another login
	// from the same address or for the same user is being checked, or the
	// gateway is busy checking others); nothing was counted against the
	// client, which may send the same auth again after a short wait.
	CodeTryLater Code = "try_later"
	// CodeTooManyConnections: the user already holds as many signaling
	// connections as allowed (auth.max_connections_per_user); the server
	// closes this one.
	CodeTooManyConnections Code = "too_many_connections"
	// CodeResumeFailed: an auth with a resume token that is unknown,
	// expired, already used, or belongs to another user; the message says
	// which. No call is touched; the client may authenticate anew.
	CodeResumeFailed Code = "resume_failed"
	// CodeUserLocked: an operator locked the user; no login and no dial
	// until it is unlocked.
	CodeUserLocked Code = "user_locked"
	// CodeLimitCallsPerMinute: the user started as many calls in the last
	// minute as its limits allow.
	CodeLimitCallsPerMinute Code = "limit_calls_per_minute"
	// CodeLimitConcurrentCalls: the user has as many calls in progress as
	// its limits allow.
	CodeLimitConcurrentCalls Code = "limit_concurrent_calls"
	// CodeLimitDailyMinutes: the user's calls today (UTC) reached its daily
	// minutes.
	CodeLimitDailyMinutes Code = "limit_daily_minutes"
	// CodeLimitPrefix: a cap on calls to the number's prefix (premium or
	// international ranges) is reached.
	CodeLimitPrefix Code = "limit_prefix"
	// CodeDialDenied: the operator's dial authorisation refused the call;
	// the message carries its reason.
	CodeDialDenied Code = "dial_denied"
	// CodeLimitsUnavailable: the user's limits are shared by several
	// gateways in a store that cannot be reached now, and the operator
	// chose to refuse calls then (cluster.redis.failure_policy
	// fail_closed); the client may try again later.
	CodeLimitsUnavailable Code = "limits_unavailable"
	// CodeTransferNotAllowed: the call's trunk takes no transfers (its
	// transfer is off); nothing was sent to the trunk and the call goes on.
	CodeTransferNotAllowed Code = "transfer_not_allowed"
	// CodeTransferFailed: the trunk refused the transfer's REFER, or reported
	// that the transfer target failed (RFC 3515 NOTIFY with a sipfrag status
	// of 300 or more); the call goes on.
	CodeTransferFailed Code = "transfer_failed"
)

// Codes lists every error code of protocol version 1 in documentation order.
// The caller owns the returned slice.
func Codes() []Code { return append([]Code(nil), allCodes[:]...) }

var allCodes = [...]Code{
	CodeUnauthorized, CodeUnsupportedVersion, CodeBadRequest, CodeUnknownType,
	CodeOutOfOrder, CodeForbiddenNumber, CodeInvalidNumber, CodeTooManyCalls,
	CodeBusy, CodeNoAnswer, CodeTrunkUnavailable, CodeICEFailed,
	CodeNoCommonCodec, CodeNotFound, CodeShuttingDown, CodeOverCapacity,
	CodeInternal, CodeTryLater, CodeTooManyConnections, CodeResumeFailed,
	CodeUserLocked, CodeLimitCallsPerMinute, CodeLimitConcurrentCalls, CodeLimitDailyMinutes,
	CodeLimitPrefix, CodeDialDenied, CodeLimitsUnavailable, CodeTransferNotAllowed, CodeTransferFailed,
}

// Valid reports whether c is a code of protocol version 1.
func (c Code) Valid() bool { return slices.Contains(allCodes[:], c) }

// Reason is why a call ended, carried by [HangupEvent].
type Reason string

// Hang-up reasons of protocol version 1.
const (
	// ReasonLocalHangup: the browser sent hangup (or closed its WebSocket).
	ReasonLocalHangup Reason = "local_hangup"
	// ReasonRemoteHangup: the far end hung up (SIP BYE from the trunk).
	ReasonRemoteHangup Reason = "remote_hangup"
	// ReasonAnsweredElsewhere: another session of the same user accepted
	// this inbound call.
	ReasonAnsweredElsewhere Reason = "answered_elsewhere"
	// ReasonRejected: the call was declined (the browser's reject of an
	// inbound call, or a 603 Decline / other 4xx-6xx final response to an
	// outbound call not covered by a more precise reason).
	ReasonRejected Reason = "rejected"
	// ReasonBusy: the called party is busy (SIP 486, 600).
	ReasonBusy Reason = "busy"
	// ReasonNoAnswer: the called party did not answer (SIP 408, 480).
	ReasonNoAnswer Reason = "no_answer"
	// ReasonCancelled: the caller gave up before the call was answered (SIP
	// CANCEL from the trunk for an inbound call, RFC 3261 section 9).
	ReasonCancelled Reason = "cancelled"
	// ReasonICEFailed: ICE or DTLS with the browser failed or timed out.
	ReasonICEFailed Reason = "ice_failed"
	// ReasonMediaTimeout: no RTP arrived on one leg for the configured time.
	ReasonMediaTimeout Reason = "media_timeout"
	// ReasonMaxDuration: the call reached the configured maximum duration.
	ReasonMaxDuration Reason = "max_duration"
	// ReasonRingTimeout: nobody answered within the configured ring time.
	ReasonRingTimeout Reason = "ring_timeout"
	// ReasonShutdown: the gateway shut down and ended the call.
	ReasonShutdown Reason = "shutdown"
	// ReasonFailed: any other failure; sip_code and sip_reason say more when
	// the trunk gave a response.
	ReasonFailed Reason = "failed"
	// ReasonSignalingLost: the browser's WebSocket dropped and no resume
	// re-attached the call within calls.resume_window.
	ReasonSignalingLost Reason = "signaling_lost"
	// ReasonAdminHangup: an operator ended the call (admin API: a hang-up,
	// a user disconnected or locked).
	ReasonAdminHangup Reason = "admin_hangup"
	// ReasonTransferred: the trunk reported the call's blind transfer
	// succeeded (RFC 3515 NOTIFY with a 2xx sipfrag); the gateway left the
	// call, sending BYE when the trunk did not.
	ReasonTransferred Reason = "transferred"
)

// Reasons lists every hang-up reason of protocol version 1 in documentation
// order.
// The caller owns the returned slice.
func Reasons() []Reason { return append([]Reason(nil), allReasons[:]...) }

var allReasons = [...]Reason{
	ReasonLocalHangup, ReasonRemoteHangup, ReasonAnsweredElsewhere, ReasonRejected,
	ReasonBusy, ReasonNoAnswer, ReasonCancelled, ReasonICEFailed, ReasonMediaTimeout,
	ReasonMaxDuration, ReasonRingTimeout, ReasonShutdown, ReasonFailed,
	ReasonSignalingLost, ReasonAdminHangup, ReasonTransferred,
}

// Valid reports whether r is a hang-up reason of protocol version 1.
func (r Reason) Valid() bool { return slices.Contains(allReasons[:], r) }
