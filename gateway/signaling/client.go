package signaling

import "log/slog"

// Auth authenticates the connection; it must be the first message. It
// carries the protocol version the client speaks and either a Token (an
// HS256 JWT issued by the operator's backend, RFC 7519) or a User and
// Password configured on the gateway, or a ResumeToken (with an optional
// User it must belong to) that re-attaches the calls of a connection that
// dropped (docs/protocol.md, "Resuming after a dropped connection"). The
// server answers [Authenticated] or an [ErrorReply] with
// [CodeUnauthorized], [CodeUnsupportedVersion] or [CodeResumeFailed].
type Auth struct {
	Version     int    `json:"version"`
	Token       string `json:"token,omitzero"`
	User        string `json:"user,omitzero"`
	Password    string `json:"password,omitzero"`
	ResumeToken string `json:"resume_token,omitzero"`
	Ref         string `json:"ref,omitzero"`
}

// Dial places an outbound call to the number To: an optional leading "+"
// then 0-9, "*" and "#" (E.164, "+" and 2 to 15 digits, for numbers the
// gateway routes to a trunk). ID is the call id the client chooses for the
// new call; every later message about it carries it as call_id. SDP is the
// browser's offer (RFC 3264) with an active audio section. The server
// answers [Answer] and then reports the call's progress, or refuses the
// dial with an [ErrorReply] naming ID as its call id. Privacy, when
// [PrivacyID], withholds the caller's number on this call (RFC 3323
// section 4.2); absent, the user's configured privacy applies.
type Dial struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	SDP     string `json:"sdp"`
	Privacy string `json:"privacy,omitzero"`
	Ref     string `json:"ref,omitzero"`
}

// PrivacyID is the [Dial] privacy that withholds the caller's number.
const PrivacyID = "id"

// Accept answers the ringing inbound call CallID (announced by [Incoming]).
// SDP is the browser's offer: the browser is always the WebRTC offerer. The
// server answers [Answer], then [Connected].
type Accept struct {
	CallID string `json:"call_id"`
	SDP    string `json:"sdp"`
	Ref    string `json:"ref,omitzero"`
}

// Reject declines the ringing inbound call CallID for all the user's
// sessions: the trunk gets 603 Decline (RFC 3261 section 21.6.2) and every
// session that was ringing receives a [HangupEvent] of reason
// [ReasonRejected].
type Reject struct {
	CallID string `json:"call_id"`
	Ref    string `json:"ref,omitzero"`
}

// Candidate trickles one ICE candidate of call CallID (RFC 8838). The same
// message travels in both directions; the gateway is ICE-lite (RFC 8445
// section 2.5) and puts its own candidates in its answer, so it rarely sends
// one.
type Candidate struct {
	CallID    string       `json:"call_id"`
	Candidate ICECandidate `json:"candidate"`
	Ref       string       `json:"ref,omitzero"`
}

// DTMF asks the gateway to send Digits on call CallID to the trunk as RFC
// 4733 telephone-events, one after the other. Digits are from
// "0123456789*#ABCD". Browsers may instead use RTCDTMFSender, whose events
// reach the trunk the same way.
type DTMF struct {
	CallID string `json:"call_id"`
	Digits string `json:"digits"`
	Ref    string `json:"ref,omitzero"`
}

// Hold puts call CallID on hold: the gateway sends a re-INVITE with
// a=sendonly (RFC 3264 section 8.4) and stops relaying the browser's audio.
type Hold struct {
	CallID string `json:"call_id"`
	Ref    string `json:"ref,omitzero"`
}

// Resume takes call CallID off hold with a re-INVITE with a=sendrecv.
type Resume struct {
	CallID string `json:"call_id"`
	Ref    string `json:"ref,omitzero"`
}

// Hangup ends call CallID in any state: CANCEL before the trunk answered
// an outbound call, BYE once answered (RFC 3261 sections 9 and 15), and
// like [Reject] for a ringing inbound call. The server confirms with a
// [HangupEvent] of reason [ReasonLocalHangup].
type Hangup struct {
	CallID string `json:"call_id"`
	Ref    string `json:"ref,omitzero"`
}

// Ping asks for a [Pong]; clients use it as a keep-alive and to measure the
// round-trip time.
type Ping struct {
	Ref string `json:"ref,omitzero"`
}

// MessageType returns [TypeAuth].
func (Auth) MessageType() Type { return TypeAuth }

// MessageType returns [TypeDial].
func (Dial) MessageType() Type { return TypeDial }

// MessageType returns [TypeAccept].
func (Accept) MessageType() Type { return TypeAccept }

// MessageType returns [TypeReject].
func (Reject) MessageType() Type { return TypeReject }

// MessageType returns [TypeCandidate].
func (Candidate) MessageType() Type { return TypeCandidate }

// MessageType returns [TypeDTMF].
func (DTMF) MessageType() Type { return TypeDTMF }

// MessageType returns [TypeHold].
func (Hold) MessageType() Type { return TypeHold }

// MessageType returns [TypeResume].
func (Resume) MessageType() Type { return TypeResume }

// MessageType returns [TypeHangup].
func (Hangup) MessageType() Type { return TypeHangup }

// MessageType returns [TypePing].
func (Ping) MessageType() Type { return TypePing }

// Reference returns the client's ref.
func (m Auth) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Dial) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Accept) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Reject) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Candidate) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m DTMF) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Hold) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Resume) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Hangup) Reference() string { return m.Ref }

// Reference returns the client's ref.
func (m Ping) Reference() string { return m.Ref }

// LogValue implements [slog.LogValuer] so that logging an Auth never
// reveals its credentials: the token, password and resume token are
// replaced by whether they were present.
func (m Auth) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("version", m.Version),
		slog.String("user", m.User),
		slog.Bool("token", m.Token != ""),
		slog.Bool("password", m.Password != ""),
		slog.Bool("resume_token", m.ResumeToken != ""),
	)
}

// String returns the same redacted form as LogValue, so that printing an
// Auth with %v never reveals its credentials either.
func (m Auth) String() string { return m.LogValue().String() }
