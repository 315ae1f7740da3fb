package telephony

import "slices"

// Transport is a SIP transport protocol (RFC 3261 section 18), written in
// lower case as in configuration files: "udp", "tcp" or "tls".
type Transport string

// The transports of the trunk side.
const (
	// TransportUDP is SIP over UDP (RFC 3261 section 18.1.1).
	TransportUDP Transport = "udp"
	// TransportTCP is SIP over TCP (RFC 3261 section 18.1.1).
	TransportTCP Transport = "tcp"
	// TransportTLS is SIP over TLS on TCP (RFC 3261 section 26.2); it does
	// not imply the sips: URI scheme.
	TransportTLS Transport = "tls"
)

// Transports lists the transports a trunk or a SIP listener may use.
var Transports = [...]Transport{TransportUDP, TransportTCP, TransportTLS}

// Valid reports whether t is one of Transports.
func (t Transport) Valid() bool { return slices.Contains(Transports[:], t) }

// DefaultPort returns the well-known SIP port of the transport: 5061 for
// TLS, 5060 otherwise (RFC 3261 section 19.1.2).
func (t Transport) DefaultPort() int {
	if t == TransportTLS {
		return 5061
	}
	return 5060
}

// Reliable reports whether the transport delivers in order without
// retransmissions by the transaction layer (TCP and TLS, RFC 3261 section
// 17.1.1.2).
func (t Transport) Reliable() bool { return t == TransportTCP || t == TransportTLS }

// String returns the transport's name, "udp".
func (t Transport) String() string { return string(t) }
