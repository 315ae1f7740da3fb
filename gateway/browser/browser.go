// Package browser is what call control needs of a browser's WebRTC leg, in
// terms free of any WebRTC library: the process-wide [Stack] that answers
// a browser's SDP offer (RFC 3264) with a [Leg], the leg's media as RTP
// bytes, its negotiated codecs, its trickled ICE candidates (RFC 8838),
// and the errors that blame the browser's input. Package browserleg
// implements it with pion; cmd/gateway hands browserleg.ListenConfig to
// the gateway, so that call control never links a WebRTC library.
package browser

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/telephony"
)

// Listen binds the browsers' WebRTC stack for the webrtc section of the
// configuration: its one UDP port (and ICE-TCP port). It returns the bind
// error naming the address, or a settings error; logger receives the
// stack's own messages.
type Listen func(c config.WebRTCConfig, logger *slog.Logger) (Stack, error)

// Stack is the process-wide WebRTC stack. It is safe for concurrent use.
type Stack interface {
	// NewLeg answers the browser's SDP offer with a new Leg and the SDP
	// answer to send, complete with candidates. onFailed is called, from
	// another goroutine, when ICE or DTLS with the browser fails. Errors
	// are *Error when the offer is at fault; any other error is an
	// internal failure.
	NewLeg(offer string, onFailed func()) (Leg, string, error)
	// UDPAddr is the bound media address that every leg shares.
	UDPAddr() netip.AddrPort
	// Close releases the stack's sockets, after every leg is closed. It
	// is idempotent.
	Close() error
}

// Leg is the browser side of one call. One goroutine reads and one writes
// its RTP; Close may be called from any goroutine, more than once.
type Leg interface {
	// ReadRTP reads the next RTP packet of the browser's audio into b,
	// decrypted, and returns its length in bytes. It blocks until one
	// arrives; after Close it returns an error matching net.ErrClosed. It
	// does not allocate.
	ReadRTP(b []byte) (int, error)
	// WriteRTP sends the RTP packet b (header and payload) to the browser
	// with the SSRC and payload type the answer negotiated, and returns
	// len(b). It does not allocate.
	WriteRTP(b []byte) (int, error)
	// Close closes the leg's PeerConnection.
	Close() error
	// Media is the browser's audio as the offer and answer negotiated it.
	Media() Media
	// Connected is closed once ICE and DTLS with the browser completed.
	Connected() <-chan struct{}
	// AddCandidate adds a candidate the browser trickled. It returns an
	// *Error of kind ErrBadCandidate when the leg refuses it.
	AddCandidate(c Candidate) error
	// Restart answers the browser's new offer on the same call, an ICE
	// restart when its ICE credentials changed (RFC 8445 section 2.4):
	// the answer carries new local credentials and candidates, the
	// media streams go on. It returns an *Error of kind ErrCodecChange for
	// an offer whose audio codec or telephone-events differ from Media,
	// or of kind ErrBadOffer; the leg is then unchanged.
	Restart(offer string) (string, error)
}

// Media is what the browser's offer says about its audio: the codec both
// directions use (the first of the offer's formats the gateway speaks,
// which is the first of the answer, RFC 3264 section 6.1) and its
// telephone-event formats (RFC 4733).
//
// Event is the telephone-event at the audio codec's clock rate when offered
// (else the other one), for descriptions; Events holds every
// telephone-event the offer and the answer share (at 8000 and at 48000 Hz).
// Both are kept because a browser may send its digits with either: Chromium
// sends telephone-event/8000 alongside Opus/48000 when both are negotiated.
type Media struct {
	Audio  telephony.Codec
	Event  telephony.Codec
	Events []telephony.Codec
}

// String describes the browser's codecs for logs, for example
// "opus/48000 pt 111 + telephone-event/48000 pt 110".
func (m Media) String() string {
	if m.Event.Name == "" {
		return m.Audio.String()
	}

	return m.Audio.String() + " + " + m.Event.String()
}

// Candidate is an ICE candidate the browser trickled (RFC 8838), with the
// members of the W3C RTCIceCandidateInit dictionary.
type Candidate struct {
	Candidate        string
	SDPMid           *string
	SDPMLineIndex    *uint16
	UsernameFragment *string
}

// Kinds of [Error]: what the browser got wrong, matched with errors.Is.
var (
	// ErrBadOffer is an offer that is not SDP, or that the stack cannot
	// apply or answer (RFC 3264 section 6).
	ErrBadOffer = errors.New("browser: bad offer")
	// ErrNoCommonCodec is an offer without an active audio section, or
	// whose audio offers none of Opus, PCMU and PCMA.
	ErrNoCommonCodec = errors.New("browser: no codec in common")
	// ErrBadCandidate is a trickled ICE candidate the agent refuses.
	ErrBadCandidate = errors.New("browser: bad candidate")
	// ErrCodecChange is a new offer on a call whose audio codec or
	// telephone-events differ from the call's.
	ErrCodecChange = errors.New("browser: offer changes the codec")
)

// Error is a failure of Stack.NewLeg or Leg.AddCandidate that the
// browser's input caused.
type Error struct {
	// Kind is ErrBadOffer, ErrNoCommonCodec, ErrBadCandidate or
	// ErrCodecChange.
	Kind error
	// Detail says what was wrong, for the browser's user, for example
	// "sdp: the offer has no active audio section" or "candidate: ...".
	Detail string
	// Err is the underlying error, nil when the leg found the fault
	// itself.
	Err error
}

// Error returns Detail.
func (e *Error) Error() string { return e.Detail }

// Unwrap returns Kind and, when set, Err.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}

	return []error{e.Kind, e.Err}
}
