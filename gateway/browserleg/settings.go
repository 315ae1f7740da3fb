package browserleg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/config"
)

// Default ICE timers (RFC 8445 section 14.3 leaves them to the agent).
const (
	// DefaultICEDisconnectedTimeout is how long without a consent check
	// from the browser before the connection counts as disconnected.
	DefaultICEDisconnectedTimeout = 5 * time.Second
	// DefaultICEFailedTimeout is how long disconnected before it fails.
	DefaultICEFailedTimeout = 25 * time.Second
	// DefaultICEKeepaliveInterval is how often the gateway sends keepalives
	// on the selected pair.
	DefaultICEKeepaliveInterval = 2 * time.Second
)

// ErrSettings is wrapped by every error of [Settings.Validate].
var ErrSettings = errors.New("browserleg: invalid settings")

// Settings describe the browser-facing WebRTC transport of one process.
// The gateway is an ICE-lite agent (RFC 8445 section 2.5): it announces host
// candidates only and answers the browser's connectivity checks.
type Settings struct {
	// UDPListen is the address of the one UDP port that carries every
	// session's ICE, DTLS and SRTP. A specific IP binds that address only.
	// An unspecified IP binds the port on every up, non-loopback address of
	// the host (0.0.0.0: IPv4 only; "::": IPv4 and IPv6) and then needs a
	// non-zero port. Port 0 picks a free port (tests). A loopback IP makes
	// loopback candidates allowed.
	UDPListen netip.AddrPort
	// TCPListen, when valid, adds one passive ICE-TCP listener (RFC 6544)
	// for browsers whose UDP is blocked. Same address rules as UDPListen;
	// port 0 picks a free port.
	TCPListen netip.AddrPort
	// PublicIPs are announced in host candidates in place of the local
	// addresses (1:1 NAT): at most one IPv4 and one IPv6 address. Only the
	// families the listeners serve are announced. Empty: the UDPListen
	// address itself is announced, which must then be specific.
	PublicIPs []netip.Addr
	// ICEDisconnectedTimeout, ICEFailedTimeout and ICEKeepaliveInterval
	// tune ICE consent (RFC 7675); zero means the Default values.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	ICEKeepaliveInterval   time.Duration
	// RTCPReportInterval is how often RTCP sender and receiver reports
	// (RFC 3550 section 6.4) are sent on each PeerConnection; zero means
	// DefaultRTCPReportInterval.
	RTCPReportInterval time.Duration
}

// rtcpInterval is RTCPReportInterval or its default.
func (s Settings) rtcpInterval() time.Duration {
	if s.RTCPReportInterval == 0 {
		return DefaultRTCPReportInterval
	}

	return s.RTCPReportInterval
}

// SettingsFromConfig converts the webrtc section of the configuration:
// udp_listen and tcp_listen as host:port (an empty host means every
// address, both families) and public_ips. It fails with an error wrapping
// ErrSettings when an address does not parse or the result is invalid.
func SettingsFromConfig(c config.WebRTCConfig) (Settings, error) {
	udp, err := parseListen(c.UDPListen)
	if err != nil {
		return Settings{}, fmt.Errorf("%w: udp_listen: %w", ErrSettings, err)
	}
	s := Settings{UDPListen: udp, PublicIPs: append([]netip.Addr(nil), c.PublicIPs...)}
	if c.TCPListen != "" {
		if s.TCPListen, err = parseListen(c.TCPListen); err != nil {
			return Settings{}, fmt.Errorf("%w: tcp_listen: %w", ErrSettings, err)
		}
	}

	return s, s.Validate()
}

func parseListen(hostport string) (netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", portText, err)
	}
	addr := netip.IPv6Unspecified()
	if host != "" {
		if addr, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, err
		}
	}

	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Validate checks the settings without touching the network. Errors wrap
// ErrSettings.
func (s Settings) Validate() error {
	if err := checkListen("udp listen", s.UDPListen); err != nil {
		return err
	}
	if s.UDPListen.Addr().IsUnspecified() && s.UDPListen.Port() == 0 {
		return fmt.Errorf("%w: udp listen %s: an unspecified address needs a fixed port, to be one port on every address", ErrSettings, s.UDPListen)
	}
	if s.TCPListen.IsValid() {
		if err := checkListen("tcp listen", s.TCPListen); err != nil {
			return err
		}
	}
	var v4, v6 int
	for _, ip := range s.PublicIPs {
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.Is4In6() || ip.Zone() != "" {
			return fmt.Errorf("%w: public ip %s: must be a unicast address without zone", ErrSettings, ip)
		}
		if ip.Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		return fmt.Errorf("%w: public ips: at most one IPv4 and one IPv6 address (1:1 NAT maps each local address to one public one)", ErrSettings)
	}
	if len(s.PublicIPs) == 0 && s.UDPListen.Addr().IsUnspecified() {
		return fmt.Errorf("%w: udp listen %s: announcing an unspecified address needs public ips", ErrSettings, s.UDPListen)
	}
	if len(s.PublicIPs) == 0 && s.TCPListen.IsValid() && s.TCPListen.Addr().IsUnspecified() {
		return fmt.Errorf("%w: tcp listen %s: announcing an unspecified address needs public ips", ErrSettings, s.TCPListen)
	}
	if len(s.networkTypes()) == 0 {
		return fmt.Errorf("%w: no address family common to the listeners and the public ips", ErrSettings)
	}
	if s.ICEDisconnectedTimeout < 0 || s.ICEFailedTimeout < 0 || s.ICEKeepaliveInterval < 0 {
		return fmt.Errorf("%w: negative ICE timer", ErrSettings)
	}
	if s.RTCPReportInterval < 0 {
		return fmt.Errorf("%w: negative RTCP report interval", ErrSettings)
	}

	return nil
}

func checkListen(what string, ap netip.AddrPort) error {
	switch a := ap.Addr(); {
	case !ap.IsValid():
		return fmt.Errorf("%w: %s: address required", ErrSettings, what)
	case a.IsMulticast(), a.Is4In6():
		return fmt.Errorf("%w: %s %s: must be a unicast address", ErrSettings, what, ap)
	}

	return nil
}

// families reports which IP families an address stands for: the family of
// a specific address, IPv4 for 0.0.0.0, both for "::".
func families(a netip.Addr) (v4, v6 bool) {
	switch {
	case a == netip.IPv6Unspecified():
		return true, true
	case a.Is4():
		return true, false
	default:
		return false, true
	}
}

// networkTypes lists the ICE network types in use: the UDP families of the
// UDP listener (and TCP families of the TCP listener) that some public IP
// can be announced for.
func (s Settings) networkTypes() []webrtc.NetworkType {
	pub4, pub6 := true, true
	if len(s.PublicIPs) > 0 {
		pub4, pub6 = false, false
		for _, ip := range s.PublicIPs {
			pub4 = pub4 || ip.Is4()
			pub6 = pub6 || ip.Is6()
		}
	}
	var types []webrtc.NetworkType
	v4, v6 := families(s.UDPListen.Addr())
	if v4 && pub4 {
		types = append(types, webrtc.NetworkTypeUDP4)
	}
	if v6 && pub6 {
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	if s.TCPListen.IsValid() {
		v4, v6 := families(s.TCPListen.Addr())
		if v4 && pub4 {
			types = append(types, webrtc.NetworkTypeTCP4)
		}
		if v6 && pub6 {
			types = append(types, webrtc.NetworkTypeTCP6)
		}
	}

	return types
}

// loopback reports whether loopback candidates are wanted: when a listener
// is bound to a loopback address.
func (s Settings) loopback() bool {
	return s.UDPListen.Addr().IsLoopback() || (s.TCPListen.IsValid() && s.TCPListen.Addr().IsLoopback())
}

// ipAllowed is the IP filter of the ICE agent: only the listeners'
// specific addresses, or any address for an unspecified listener.
func (s Settings) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, ap := range []netip.AddrPort{s.UDPListen, s.TCPListen} {
		if !ap.IsValid() {
			continue
		}
		a := ap.Addr()
		if a.IsUnspecified() {
			v4, v6 := families(a)
			if (ip.Is4() && v4) || (ip.Is6() && v6) {
				return true
			}

			continue
		}
		if a == ip {
			return true
		}
	}

	return false
}

func (s Settings) iceTimers() (disconnected, failed, keepalive time.Duration) {
	disconnected, failed, keepalive = DefaultICEDisconnectedTimeout, DefaultICEFailedTimeout, DefaultICEKeepaliveInterval
	if s.ICEDisconnectedTimeout > 0 {
		disconnected = s.ICEDisconnectedTimeout
	}
	if s.ICEFailedTimeout > 0 {
		failed = s.ICEFailedTimeout
	}
	if s.ICEKeepaliveInterval > 0 {
		keepalive = s.ICEKeepaliveInterval
	}

	return disconnected, failed, keepalive
}
