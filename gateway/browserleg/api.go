package browserleg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/browser"
)

// tcpReadBuffer is how many ICE-TCP packets are queued per connection.
const tcpReadBuffer = 64

// udpReadBuffer is the receive buffer asked for the media socket (SO_RCVBUF,
// socket(7)), in bytes. That one socket carries every call's media, read by
// one goroutine: each datagram of about 200 bytes occupies about 1 KiB of
// buffer in the kernel, so the default of 208 KiB overflows after some 40 ms
// of 100 calls' audio whenever the reader is held up (a login's bcrypt, a
// burst of DTLS handshakes) and drops packets of every call. 4 MiB rides
// out about a second. The kernel caps it at net.core.rmem_max.
const udpReadBuffer = 4 << 20

// API is the process-wide WebRTC stack. Create it with [Listen]; it is safe
// for concurrent use. Close it after every PeerConnection it made is
// closed.
type API struct {
	api     *webrtc.API
	udpMux  ice.UDPMux
	udpAddr netip.AddrPort
	tcpMux  ice.TCPMux
	tcpAddr netip.AddrPort

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by NewPeerConnection and NewLeg after the API's
// Close, and by Leg.ReadRTP after the leg's Close. It matches
// net.ErrClosed.
var ErrClosed = fmt.Errorf("browserleg: closed: %w", net.ErrClosed)

// Listen validates s, binds the UDP port (and the ICE-TCP listener when
// configured) and builds the API. It returns an error wrapping
// [ErrSettings] for invalid settings, or the bind error naming the address.
// logger receives pion's own messages (see [LoggerFactory]); nil discards
// them.
func Listen(s Settings, logger *slog.Logger) (*API, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lf := LoggerFactory{Logger: logger}
	media, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	interceptors, err := newInterceptors(s.rtcpInterval(), lf)
	if err != nil {
		return nil, err
	}
	se, err := settingEngine(s, lf)
	if err != nil {
		return nil, err
	}

	a := &API{}
	a.udpMux, a.udpAddr, err = listenUDP(s, lf)
	if err != nil {
		return nil, err
	}
	se.SetICEUDPMux(a.udpMux)
	if s.TCPListen.IsValid() {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(s.TCPListen))
		if err != nil {
			_ = a.udpMux.Close()

			return nil, fmt.Errorf("browserleg: ice-tcp listen %s: %w", s.TCPListen, err)
		}
		a.tcpAddr = ln.Addr().(*net.TCPAddr).AddrPort() //nolint:forcetypeassert // a TCP listener has a TCP address
		a.tcpMux = webrtc.NewICETCPMux(lf.NewLogger("ice-tcp"), ln, tcpReadBuffer)
		se.SetICETCPMux(a.tcpMux)
	}
	a.api = webrtc.NewAPI(
		webrtc.WithMediaEngine(media),
		webrtc.WithSettingEngine(*se),
		webrtc.WithInterceptorRegistry(interceptors),
	)

	return a, nil
}

// ListenConfig is the browser.Listen of the package: it converts the
// webrtc section of the configuration (SettingsFromConfig) and binds an
// API with it (Listen). Errors are those of either.
func ListenConfig(c config.WebRTCConfig, logger *slog.Logger) (browser.Stack, error) {
	s, err := SettingsFromConfig(c)
	if err != nil {
		return nil, err
	}
	a, err := Listen(s, logger)
	if err != nil {
		return nil, err
	}

	return a, nil
}

var _ browser.Listen = ListenConfig

// settingEngine configures ICE-lite, the announced addresses and filters,
// no mDNS (RFC 8445 candidates are plain IP addresses), the ICE timers and
// the logger.
func settingEngine(s Settings, lf LoggerFactory) (*webrtc.SettingEngine, error) {
	se := &webrtc.SettingEngine{LoggerFactory: lf}
	se.SetLite(true)
	// The answer says a=setup:passive (RFC 5763 section 5): the browser
	// starts DTLS once our Binding Success Response has reached it. As
	// the DTLS client, an ICE-lite gateway selects the pair on the
	// browser's nominating check and may send its ClientHello before the
	// response to that check; Firefox drops a ClientHello that comes
	// first and waits a second for the retransmission.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, fmt.Errorf("browserleg: dtls role: %w", err)
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes(s.networkTypes())
	se.SetIncludeLoopbackCandidate(s.loopback())
	se.SetIPFilter(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)

		return ok && s.ipAllowed(a)
	})
	se.SetICETimeouts(s.iceTimers())
	if len(s.PublicIPs) > 0 {
		external := make([]string, len(s.PublicIPs))
		for i, ip := range s.PublicIPs {
			external[i] = ip.String()
		}
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        external,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: public ips: %w", ErrSettings, err)
		}
	}

	return se, nil
}

// listenUDP binds the media port: one socket for a specific address, or
// one socket per host address on the same port for an unspecified one, so
// that replies always leave from the address the browser sent to.
func listenUDP(s Settings, lf LoggerFactory) (ice.UDPMux, netip.AddrPort, error) {
	logger := lf.NewLogger("ice-udp")
	if !s.UDPListen.Addr().IsUnspecified() {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(s.UDPListen))
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("browserleg: udp listen %s: %w", s.UDPListen, err)
		}
		// Best effort: with a smaller buffer the port still works.
		_ = conn.SetReadBuffer(udpReadBuffer)
		bound := conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // a UDP socket has a UDP address

		return webrtc.NewICEUDPMux(logger, conn), netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port()), nil
	}
	var networks []ice.NetworkType
	v4, v6 := families(s.UDPListen.Addr())
	if v4 {
		networks = append(networks, ice.NetworkTypeUDP4)
	}
	if v6 {
		networks = append(networks, ice.NetworkTypeUDP6)
	}
	mux, err := ice.NewMultiUDPMuxFromPort(int(s.UDPListen.Port()),
		ice.UDPMuxFromPortWithNetworks(networks...),
		ice.UDPMuxFromPortWithLogger(logger),
		ice.UDPMuxFromPortWithReadBufferSize(udpReadBuffer),
	)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("browserleg: udp listen %s: %w", s.UDPListen, err)
	}
	if len(mux.GetListenAddresses()) == 0 {
		_ = mux.Close()

		return nil, netip.AddrPort{}, fmt.Errorf("browserleg: udp listen %s: %w", s.UDPListen, errNoAddress)
	}

	return mux, s.UDPListen, nil
}

var errNoAddress = errors.New("no usable local address")

// NewPeerConnection returns a PeerConnection for one call. It has no ICE
// servers (an ICE-lite agent gathers host candidates only), bundles all
// media on one transport (RFC 8843) and multiplexes RTCP with RTP (RFC
// 5761), which every browser supports. Its candidates are complete as soon
// as the local description is set. After Close it fails with [ErrClosed].
func (a *API) NewPeerConnection() (*webrtc.PeerConnection, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	pc, err := a.api.NewPeerConnection(webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, fmt.Errorf("browserleg: new peer connection: %w", err)
	}

	return pc, nil
}

// UDPAddr is the bound media address: the port all sessions share, with the
// configured listen IP (which may be unspecified).
func (a *API) UDPAddr() netip.AddrPort { return a.udpAddr }

// TCPAddr is the bound ICE-TCP address, or the zero AddrPort when ICE-TCP
// is off.
func (a *API) TCPAddr() netip.AddrPort { return a.tcpAddr }

// Close releases the UDP port and the ICE-TCP listener. It is idempotent and
// returns the first error of the first call.
func (a *API) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		var errs []error
		if a.tcpMux != nil {
			errs = append(errs, a.tcpMux.Close())
		}
		errs = append(errs, a.udpMux.Close())
		a.closeErr = errors.Join(errs...)
	})

	return a.closeErr
}
