package signaling

import "github.com/webtrunk/webtrunk/config"

// Version is the protocol version this package implements. A client
// announces the version it speaks in [Auth]; the server answers any other
// version with [CodeUnsupportedVersion].
const Version = 1

// Size limits of protocol version 1, in bytes.
const (
	// MaxFrameSize is the largest WebSocket message the server reads.
	MaxFrameSize = 64 << 10
	// MaxSDPSize is the largest SDP body of a dial, accept or answer.
	MaxSDPSize = 16 << 10
	// MaxCallIDSize is the longest call id.
	MaxCallIDSize = 64
	// MaxRefSize is the longest client reference (the "ref" member).
	MaxRefSize = 64
	// MaxNumberSize is the longest dialled number, "+" included.
	MaxNumberSize = 32
	// MaxDigits is the most DTMF digits one dtmf message may carry.
	MaxDigits = 32
	// MaxCandidateSize is the longest ICE candidate attribute.
	MaxCandidateSize = 1024
	// MaxTokenSize is the longest authentication token.
	MaxTokenSize = 8 << 10
	// MaxUserSize is the longest user name.
	MaxUserSize = 128
	// MaxPasswordSize is the longest password.
	MaxPasswordSize = 1024
	// MaxResumeTokenSize is the longest resume token.
	MaxResumeTokenSize = 128
)

// Type names a message: the value of the "type" member of every frame.
type Type string

// Client-to-server message types.
const (
	TypeAuth      Type = "auth"
	TypeDial      Type = "dial"
	TypeAccept    Type = "accept"
	TypeReject    Type = "reject"
	TypeCandidate Type = "candidate" // both directions
	TypeDTMF      Type = "dtmf"      // both directions, different fields
	TypeHold      Type = "hold"
	TypeResume    Type = "resume"
	TypeHangup    Type = "hangup" // both directions, different fields
	TypePing      Type = "ping"
)

// Server-to-client message types.
const (
	TypeAuthenticated Type = "authenticated"
	TypeAnswer        Type = "answer"
	TypeRinging       Type = "ringing"
	TypeProgress      Type = "progress"
	TypeConnected     Type = "connected"
	TypeIncoming      Type = "incoming"
	TypeError         Type = "error"
	TypePong          Type = "pong"
)

// Message is one protocol message of either direction. MessageType is the
// value of its "type" member.
type Message interface {
	MessageType() Type
}

// ClientMessage is a message a browser sends to the server. Every client
// message may carry a "ref": an opaque string of the client's choosing that
// the server echoes in the [ErrorReply] (or [Pong]) it causes. Reference
// returns it ("" when absent).
type ClientMessage interface {
	Message
	Reference() string
}

// ICECandidate is one trickled ICE candidate, with the members of the W3C
// RTCIceCandidateInit dictionary. Candidate is the candidate-attribute of
// RFC 8839 section 5.1 without the "a=" prefix (for example "candidate:1 1
// udp 2122260223 192.0.2.1 54321 typ host"); an empty Candidate signals the
// end of candidates. SDPMid and SDPMLineIndex say which media section it
// belongs to; at least one is set for a non-empty candidate.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitzero"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitzero"`
	UsernameFragment *string `json:"usernameFragment,omitzero"`
}

// ICEServer is a STUN or TURN server the browser may use, with the members
// of the W3C RTCIceServer dictionary. URLs are stun:, turn: or turns: URIs
// (RFC 7064, RFC 7065); Username and Credential are set for TURN.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitzero"`
	Credential string   `json:"credential,omitzero"`
}

// ICEServersFromConfig converts the configured STUN/TURN servers
// (webrtc.ice_servers) to the form [Authenticated] carries. TURN
// credentials are revealed: the browser needs them to allocate a relay.
// The result is never nil, so it encodes as [] when nothing is configured.
func ICEServersFromConfig(servers []config.ICEServer) []ICEServer {
	out := make([]ICEServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, ICEServer{
			URLs:       append([]string(nil), s.URLs...),
			Username:   s.Username,
			Credential: s.Credential.Reveal(),
		})
	}

	return out
}
