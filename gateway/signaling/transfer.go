package signaling

// TypeTransfer is the client's blind transfer of a connected call
// (docs/protocol.md, "transfer").
const TypeTransfer Type = "transfer"

// Transfer asks the gateway to hand connected call CallID over to number To
// (as the user would dial it) with a blind transfer: the gateway checks To
// against the user's dial rules and limits exactly as a [Dial], then sends
// the trunk a REFER (RFC 3515) in the call's dialog. On the trunk's success
// the call ends with [ReasonTransferred]; a refusal or a failed target is
// answered with an [ErrorReply] of [CodeTransferFailed] and the call goes
// on.
type Transfer struct {
	CallID string `json:"call_id"`
	To     string `json:"to"`
	Ref    string `json:"ref,omitzero"`
}

// MessageType returns [TypeTransfer].
func (Transfer) MessageType() Type { return TypeTransfer }

// Reference returns the client's ref.
func (m Transfer) Reference() string { return m.Ref }

func (m Transfer) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkNumber("to", m.To), checkRef(m.Ref))
}
