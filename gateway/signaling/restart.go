package signaling

// Message types of an ICE restart (docs/protocol.md, "ice_restart").
const (
	// TypeICERestart is the client's new offer for a call whose network
	// path changed.
	TypeICERestart Type = "ice_restart"
	// TypeICERestarted is the server's answer to it.
	TypeICERestarted Type = "ice_restarted"
)

// ICERestart is a new SDP offer (RFC 3264 section 8) for call CallID with
// new ICE credentials (an ICE restart, RFC 8445 section 2.4 and RFC 8839
// section 4.4.1.1.1), sent when the browser's network path changed. It
// must keep the call's codec; the trunk leg is not touched. The server
// answers [ICERestarted], or an [ErrorReply] and the call goes on as it
// was.
type ICERestart struct {
	CallID string `json:"call_id"`
	SDP    string `json:"sdp"`
	Ref    string `json:"ref,omitzero"`
}

// ICERestarted carries the gateway's SDP answer to an [ICERestart] of call
// CallID, with the gateway's new ICE credentials and candidates.
type ICERestarted struct {
	CallID string `json:"call_id"`
	SDP    string `json:"sdp"`
}

// MessageType returns [TypeICERestart].
func (ICERestart) MessageType() Type { return TypeICERestart }

// Reference returns the client's ref.
func (m ICERestart) Reference() string { return m.Ref }

// MessageType returns [TypeICERestarted].
func (ICERestarted) MessageType() Type { return TypeICERestarted }

func (m ICERestart) validate() *DecodeError {
	if err := checkCallID("call_id", m.CallID); err != nil {
		return err
	}
	if err := checkSDP("sdp", m.SDP); err != nil {
		return err
	}

	return checkRef(m.Ref)
}

func (m ICERestarted) validate() *DecodeError {
	if err := checkCallID("call_id", m.CallID); err != nil {
		return err
	}

	return checkSDP("sdp", m.SDP)
}

// TypeICEServers refreshes the ICE servers of an authenticated connection.
const TypeICEServers Type = "ice_servers"

// ICEServers replaces the ICE servers of [Authenticated] on a connection
// that stays up longer than their TURN credentials: the server sends it
// before the credentials expire, and the browser uses the new list for
// its next calls and ICE restarts. Never null on the wire.
type ICEServers struct {
	ICEServers []ICEServer `json:"ice_servers"`
}

// MessageType returns [TypeICEServers].
func (ICEServers) MessageType() Type { return TypeICEServers }

func (ICEServers) validate() *DecodeError { return nil }
