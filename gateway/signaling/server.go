package signaling

// Authenticated confirms a successful [Auth]. Version is the protocol
// version in use, User the authenticated user id, MaxCalls how many calls
// the user may have at once across all its connections, inbound and
// outbound (0 means unlimited), and ICEServers the STUN/TURN servers the
// browser should put in its RTCConfiguration (never null on the wire).
// ResumeToken, when present, is the single-use secret that re-attaches this
// connection's calls after it drops, for ResumeWindow milliseconds after
// the drop (docs/protocol.md, "Resuming after a dropped connection"); each
// Authenticated carries a new one. Resumed is true when the Auth carried a
// resume token, and Calls then lists the calls that were re-attached.
type Authenticated struct {
	Version      int           `json:"version"`
	User         string        `json:"user"`
	MaxCalls     int           `json:"max_calls"`
	ICEServers   []ICEServer   `json:"ice_servers"`
	ResumeToken  string        `json:"resume_token,omitzero"`
	ResumeWindow int           `json:"resume_window,omitzero"`
	Resumed      bool          `json:"resumed,omitzero"`
	Calls        []ResumedCall `json:"calls,omitzero"`
}

// ResumedCall is a call re-attached by a resume: CallID and its State,
// "setup" (not answered yet) or "connected". Messages about it that the
// client missed while disconnected follow the [Authenticated].
type ResumedCall struct {
	CallID string `json:"call_id"`
	State  string `json:"state"`
}

// States of a [ResumedCall].
const (
	CallStateSetup     = "setup"
	CallStateConnected = "connected"
)

// Answer carries the gateway's SDP answer (RFC 3264) to the browser's offer
// for call CallID. It always precedes any other message about that call but
// [ErrorReply] and [HangupEvent].
type Answer struct {
	CallID string `json:"call_id"`
	SDP    string `json:"sdp"`
}

// Ringing reports that the called party of outbound call CallID is being
// alerted (SIP 180 without SDP, RFC 3261 section 21.1.2). The browser plays
// its own ringback tone.
type Ringing struct {
	CallID string `json:"call_id"`
}

// Progress reports early media on outbound call CallID (SIP 183 Session
// Progress or 180 with SDP, RFC 3960): the far end's audio (ringback, an
// announcement) now flows to the browser, which should not play its own.
type Progress struct {
	CallID string `json:"call_id"`
}

// Connected reports that call CallID is answered and media flows both ways.
type Connected struct {
	CallID string `json:"call_id"`
}

// Incoming announces an inbound call to every connected session of the
// routed user. CallID is chosen by the server. From is the caller's number
// (E.164 when known, empty when withheld), FromName its display name when
// the trunk sent one, To the dialled number (the DID). The browser answers
// with [Accept] or [Reject].
type Incoming struct {
	CallID   string `json:"call_id"`
	From     string `json:"from"`
	FromName string `json:"from_name,omitzero"`
	To       string `json:"to"`
	// Anonymous is true when the caller withheld the number (Privacy: id,
	// RFC 3323): From is then "anonymous" and FromName absent.
	Anonymous bool `json:"anonymous,omitzero"`
	// Diversion lists the call's diversions, most recent first (Diversion,
	// RFC 5806); History its History-Info entries (RFC 7044) in order.
	Diversion []Redirection `json:"diversion,omitzero"`
	History   []Redirection `json:"history,omitzero"`
}

// DTMFEvent reports one DTMF digit ("0"-"9", "*", "#", "A"-"D") received
// from the trunk on call CallID as an RFC 4733 telephone-event, once per
// key press at the end of the event.
type DTMFEvent struct {
	CallID string `json:"call_id"`
	Digit  string `json:"digit"`
}

// HangupEvent reports that call CallID has ended and everything it held is
// released; it is the last message about the call. Reason says why.
// SIPCode and SIPReason are the trunk's final SIP status code (RFC 3261
// section 21) and reason phrase, or the cause of the Reason header (RFC
// 3326) of its BYE or CANCEL, when there is one; both are omitted otherwise.
type HangupEvent struct {
	CallID    string `json:"call_id"`
	Reason    Reason `json:"reason"`
	SIPCode   int    `json:"sip_code,omitzero"`
	SIPReason string `json:"sip_reason,omitzero"`
}

// ErrorReply reports that a client message could not be carried out. Code
// is stable, Message human-readable. CallID is set when the error concerns
// one call; an error never ends a call by itself (a call that ends gets its
// own [HangupEvent]). Ref echoes the ref of the client message that caused
// the error, when it had one.
type ErrorReply struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	CallID  string `json:"call_id,omitzero"`
	Ref     string `json:"ref,omitzero"`
}

// Pong answers a [Ping]; Ref echoes the ping's ref.
type Pong struct {
	Ref string `json:"ref,omitzero"`
}

// MessageType returns [TypeAuthenticated].
func (Authenticated) MessageType() Type { return TypeAuthenticated }

// MessageType returns [TypeAnswer].
func (Answer) MessageType() Type { return TypeAnswer }

// MessageType returns [TypeRinging].
func (Ringing) MessageType() Type { return TypeRinging }

// MessageType returns [TypeProgress].
func (Progress) MessageType() Type { return TypeProgress }

// MessageType returns [TypeConnected].
func (Connected) MessageType() Type { return TypeConnected }

// MessageType returns [TypeIncoming].
func (Incoming) MessageType() Type { return TypeIncoming }

// MessageType returns [TypeDTMF].
func (DTMFEvent) MessageType() Type { return TypeDTMF }

// MessageType returns [TypeHangup].
func (HangupEvent) MessageType() Type { return TypeHangup }

// MessageType returns [TypeError].
func (ErrorReply) MessageType() Type { return TypeError }

// MessageType returns [TypePong].
func (Pong) MessageType() Type { return TypePong }
