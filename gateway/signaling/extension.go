package signaling

import "slices"

// TypeExtension tells a user's browsers the state of the user's
// extension on a SIP registrar.
const TypeExtension Type = "extension"

// Extension states.
const (
	// ExtensionRegistered: the registrar holds a current binding of the
	// extension to this gateway; calls to it ring here.
	ExtensionRegistered = "registered"
	// ExtensionFailed: the registrar could not be reached or refused for
	// another reason than 403; the gateway retries with back-off.
	ExtensionFailed = "failed"
	// ExtensionForbidden: the registrar refused the account (403, or
	// credentials it rejected); retried with back-off, but an operator
	// has to fix the account. Outbound calls are not affected.
	ExtensionForbidden = "forbidden"
	// ExtensionUnregistered: the binding was removed (the gateway is
	// draining).
	ExtensionUnregistered = "unregistered"
)

// extensionStates lists the states of [Extension].
var extensionStates = []string{ExtensionRegistered, ExtensionFailed, ExtensionForbidden, ExtensionUnregistered}

// Extension is the state of the user's extension on its registrar
// (users[].sip_account, RFC 3261 section 10), sent to each of the user's
// browsers after authentication when the user has an account, and again
// on every change. It never blocks calls through the trunks.
type Extension struct {
	// Extension is the account's user name on the registrar.
	Extension string `json:"extension"`
	// Status is one of the Extension* states.
	Status string `json:"status"`
	// SIPCode is the status code of the registrar's last final
	// response; 0 when none came (timeout, transport error).
	SIPCode int `json:"sip_code,omitempty"`
}

// MessageType returns [TypeExtension].
func (Extension) MessageType() Type { return TypeExtension }

func (m Extension) validate() *DecodeError {
	if m.Extension == "" {
		return invalid(CodeBadRequest, "extension", "required")
	}
	if !slices.Contains(extensionStates, m.Status) {
		return invalid(CodeBadRequest, "status", "unknown state")
	}

	return nil
}
