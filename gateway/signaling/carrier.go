package signaling

// Server-to-client message types of the carrier features.
const (
	TypeHeld     Type = "held"
	TypeResumed  Type = "resumed"
	TypeReferred Type = "referred"
)

// Held reports that the trunk put call CallID on hold (RFC 3264 section
// 8.4: its offer made the stream sendonly or inactive). The far end sends
// what it chooses (music on hold or nothing) and the gateway stops sending
// the browser's audio; the call stays connected until [Resumed] or its end.
type Held struct {
	CallID string `json:"call_id"`
}

// Resumed reports that the trunk took call CallID off hold: audio flows
// both ways again.
type Resumed struct {
	CallID string `json:"call_id"`
}

// MessageType returns [TypeHeld].
func (Held) MessageType() Type { return TypeHeld }

// MessageType returns [TypeResumed].
func (Resumed) MessageType() Type { return TypeResumed }

func (m Held) validate() *DecodeError    { return checkCallID("call_id", m.CallID) }
func (m Resumed) validate() *DecodeError { return checkCallID("call_id", m.CallID) }

// Referred reports that the trunk transferred call CallID to another
// party (its REFER, RFC 3515) and that the browser now talks to To, an
// E.164 number: the gateway called To in the call's place and bridged
// the browser to it, and the call goes on (docs/protocol.md, "Transfer by
// the trunk").
type Referred struct {
	CallID string `json:"call_id"`
	// To is the new party's number, E.164.
	To string `json:"to"`
}

// MessageType returns [TypeReferred].
func (Referred) MessageType() Type { return TypeReferred }

func (m Referred) validate() *DecodeError { return checkCallID("call_id", m.CallID) }

// Redirection is one step of an inbound call's way to the gateway, from a
// Diversion header (RFC 5806) or a History-Info entry (RFC 7044).
type Redirection struct {
	// Number is the diverting (Diversion) or targeted (History-Info)
	// number, E.164 when the trunk's plan could read it.
	Number string `json:"number"`
	// Reason is the Diversion reason ("no-answer", "unconditional", ...)
	// or the History-Info cause (a SIP status code as digits).
	Reason string `json:"reason,omitzero"`
	// Index is the History-Info index ("1.1"); absent for Diversion.
	Index string `json:"index,omitzero"`
}
