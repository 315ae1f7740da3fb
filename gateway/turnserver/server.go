// Package turnserver is Webtrunk's embedded TURN server (RFC 8656) on
// pion/turn, for browsers whose network blocks UDP or every direct path to
// the gateway. It is not an open relay: an allocation may exchange
// datagrams only with the gateway's own WebRTC media addresses; every
// other peer is refused (CreatePermission and ChannelBind answer 403) and
// counted. Credentials are those of the TURN REST scheme ([Credentials]),
// minted by the gateway for each signed-in browser; allocations are
// bounded per user and per client address, and each allocation's
// bandwidth is bounded.
//
// It speaks turn: over UDP and TCP on one port and, optionally, turns:
// (TLS) on another. Browsers ask for UDP relays (REQUESTED-TRANSPORT 17)
// whatever transport they reach the server with; TCP relays (RFC 6062) are
// refused.
package turnserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Settings configure a [Server]. Listen is required; the rest have the
// defaults their comments give.
type Settings struct {
	// Listen is the UDP and TCP address of turn:, port 0 for any.
	Listen netip.AddrPort
	// TLSListen, when valid, adds turns: on this TCP address with TLS.
	TLSListen netip.AddrPort
	// TLS is the certificate configuration of TLSListen.
	TLS *tls.Config
	// RelayIP is the address relay sockets are bound to and announced
	// with (XOR-RELAYED-ADDRESS).
	RelayIP netip.Addr
	// Peers are the only addresses relays may exchange datagrams with:
	// the gateway's WebRTC media addresses (its announced addresses at
	// its media port).
	Peers []netip.AddrPort
	// Secret is the TURN REST shared secret.
	Secret string
	// Realm is the realm of the long-term credentials. Default "webtrunk".
	Realm string
	// MaxPerUser and MaxPerSource bound the allocations of one user and of
	// one client IP address (0: unbounded).
	MaxPerUser, MaxPerSource int
	// MaxBandwidth bounds what one allocation relays each way, in bytes
	// per second (0: unbounded).
	MaxBandwidth int
}

// Stats are the server's counters since it started.
type Stats struct {
	// Allocations is the number of allocations now.
	Allocations int
	// AllocationsTotal counts allocations made.
	AllocationsTotal uint64
	// RelayedBytes counts payload bytes relayed, both ways.
	RelayedBytes uint64
	// RefusedPeers counts permissions and datagrams refused because their
	// peer is not one of Settings.Peers.
	RefusedPeers uint64
	// BadCredentials counts requests refused for their credentials (401
	// Unauthorized): a malformed or expired username, or a wrong password.
	BadCredentials uint64
	// QuotaRefused counts allocations refused by a quota (486).
	QuotaRefused uint64
	// Dropped counts datagrams dropped for exceeding MaxBandwidth.
	Dropped uint64
}

// Server is a running TURN server. Create it with [Listen]; Close it once.
type Server struct {
	s      Settings
	log    *slog.Logger
	server *turn.Server
	udp    net.PacketConn
	tcp    net.Listener
	tls    net.Listener
	peers  map[netip.AddrPort]struct{}
	ips    map[netip.Addr]struct{}
	quota  *quotas
	now    func() time.Time

	allocTotal, relayed, refused, badCreds, dropped atomic.Uint64

	// conns are the open TCP and TLS connections (gate.go).
	connsMu sync.Mutex
	conns   map[*gatedConn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// ErrSettings wraps every problem of [Settings].
var ErrSettings = errors.New("turnserver: invalid settings")

// Listen binds the server's sockets (UDP and TCP on s.Listen, TLS on
// s.TLSListen) and starts serving. logger gets one line per refused peer
// and per bad credential (at most a few a second) and pion's own warnings
// are dropped. It returns an error wrapping [ErrSettings], or the bind
// error naming the address.
func Listen(s Settings, logger *slog.Logger) (*Server, error) {
	switch {
	case !s.Listen.IsValid():
		return nil, fmt.Errorf("%w: no listen address", ErrSettings)
	case !s.RelayIP.IsValid() || s.RelayIP.IsUnspecified():
		return nil, fmt.Errorf("%w: no relay address", ErrSettings)
	case len(s.Peers) == 0:
		return nil, fmt.Errorf("%w: no peer address to relay to", ErrSettings)
	case s.Secret == "":
		return nil, fmt.Errorf("%w: no secret", ErrSettings)
	case s.TLSListen.IsValid() && s.TLS == nil:
		return nil, fmt.Errorf("%w: TLS listen address without certificate", ErrSettings)
	}
	if s.Realm == "" {
		s.Realm = "webtrunk"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &Server{
		s: s, log: logger, quota: newQuotas(s.MaxPerUser, s.MaxPerSource), now: time.Now,
		peers: make(map[netip.AddrPort]struct{}), ips: make(map[netip.Addr]struct{}),
		conns: make(map[*gatedConn]struct{}),
	}
	for _, p := range s.Peers {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		srv.peers[p] = struct{}{}
		srv.ips[p.Addr()] = struct{}{}
	}
	if err := srv.bind(); err != nil {
		srv.closeSockets()

		return nil, err
	}
	gen := &relayGenerator{srv: srv}
	perm := srv.permit
	cfg := turn.ServerConfig{
		Realm:         s.Realm,
		AuthHandler:   srv.authenticate,
		QuotaHandler:  srv.quota.allow,
		LoggerFactory: quietLoggers{},
		EventHandler: turn.EventHandler{
			OnAuth:              srv.onAuth,
			OnAllocationCreated: srv.onAllocated,
			OnAllocationDeleted: srv.onDeleted,
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: &gatedPacketConn{PacketConn: srv.udp, srv: srv}, RelayAddressGenerator: gen, PermissionHandler: perm,
		}},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener: &gatedListener{Listener: srv.tcp, srv: srv}, RelayAddressGenerator: gen, PermissionHandler: perm,
		}},
	}
	if srv.tls != nil {
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, turn.ListenerConfig{
			Listener: &gatedListener{Listener: srv.tls, srv: srv}, RelayAddressGenerator: gen, PermissionHandler: perm,
		})
	}
	if srv.server, srv.closeErr = turn.NewServer(cfg); srv.closeErr != nil {
		srv.closeSockets()

		return nil, fmt.Errorf("turnserver: %w", srv.closeErr)
	}

	return srv, nil
}

// bind opens the listening sockets.
func (srv *Server) bind() error {
	var err error
	lc := net.ListenConfig{}
	ctx := context.Background()
	if srv.udp, err = lc.ListenPacket(ctx, "udp", srv.s.Listen.String()); err != nil {
		return fmt.Errorf("turnserver: listen udp %s: %w", srv.s.Listen, err)
	}
	// TCP on the port UDP got, so that one port number serves both.
	tcpAddr := netip.AddrPortFrom(srv.s.Listen.Addr(), UDPAddrPort(srv.udp).Port())
	if srv.tcp, err = lc.Listen(ctx, "tcp", tcpAddr.String()); err != nil {
		return fmt.Errorf("turnserver: listen tcp %s: %w", tcpAddr, err)
	}
	if srv.s.TLSListen.IsValid() {
		ln, err := lc.Listen(ctx, "tcp", srv.s.TLSListen.String())
		if err != nil {
			return fmt.Errorf("turnserver: listen tls %s: %w", srv.s.TLSListen, err)
		}
		srv.tls = tls.NewListener(ln, srv.s.TLS)
	}

	return nil
}

// closeSockets closes what bind opened.
func (srv *Server) closeSockets() {
	if srv.udp != nil {
		_ = srv.udp.Close()
	}
	if srv.tcp != nil {
		_ = srv.tcp.Close()
	}
	if srv.tls != nil {
		_ = srv.tls.Close()
	}
}

// Close stops the server and closes its sockets and every allocation. It
// is idempotent.
func (srv *Server) Close() error {
	srv.closeOnce.Do(func() {
		srv.closeErr = srv.server.Close()
		srv.closeConns()
	})

	return srv.closeErr
}

// UDPAddr is the bound turn: address (UDP and TCP share its port).
func (srv *Server) UDPAddr() netip.AddrPort { return UDPAddrPort(srv.udp) }

// TLSAddr is the bound turns: address, the zero value without TLS.
func (srv *Server) TLSAddr() netip.AddrPort {
	if srv.tls == nil {
		return netip.AddrPort{}
	}
	a, _ := srv.tls.Addr().(*net.TCPAddr)

	return a.AddrPort()
}

// Stats returns the server's counters.
func (srv *Server) Stats() Stats {
	return Stats{
		Allocations:      srv.server.AllocationCount(),
		AllocationsTotal: srv.allocTotal.Load(),
		RelayedBytes:     srv.relayed.Load(),
		RefusedPeers:     srv.refused.Load(),
		BadCredentials:   srv.badCreds.Load(),
		QuotaRefused:     srv.quota.refused.Load(),
		Dropped:          srv.dropped.Load(),
	}
}

// authenticate is pion's AuthHandler: the TURN REST scheme. A username
// must not have expired to open an allocation; requests on an existing
// allocation (Refresh, CreatePermission, ChannelBind) are accepted with
// the credentials it was opened with even after their expiry, so that a
// call outlives its credentials.
func (srv *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	user, _, err := ParseUsername(ra.Username, srv.now())
	if errors.Is(err, ErrExpired) && ra.Method != stun.MethodAllocate {
		err = nil
	}
	if err != nil {
		srv.badCreds.Add(1)
		srv.log.Info("turn request refused", "reason", err.Error(), "source", ra.SrcAddr.String(), "method", ra.Method.String())

		return "", nil, false
	}

	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, Password(srv.s.Secret, ra.Username)), true
}

// onAuth counts requests whose password was wrong.
func (srv *Server) onAuth(src, _ net.Addr, _, username, _, method string, ok bool) {
	if !ok {
		srv.badCreds.Add(1)
		srv.log.Info("turn request refused", "reason", "wrong password", "source", src.String(), "method", method, "username", username)
	}
}

// onAllocated counts an allocation against its user's and address's quota.
func (srv *Server) onAllocated(src, _ net.Addr, _, user, _ string, relay net.Addr, _ int) {
	srv.allocTotal.Add(1)
	srv.quota.add(user, src)
	srv.log.Debug("turn allocation", "user", user, "source", src.String(), "relay", relay.String())
}

// onDeleted gives an allocation's quota back.
func (srv *Server) onDeleted(src, _ net.Addr, _, user, _ string) { srv.quota.remove(user, src) }

// permit is pion's PermissionHandler: only the gateway's media addresses.
func (srv *Server) permit(client net.Addr, peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	if ok {
		if _, ok = srv.ips[a.Unmap()]; ok {
			return true
		}
	}
	srv.refused.Add(1)
	srv.log.Info("turn permission refused: not the gateway's media address", "source", client.String(), "peer", peer.String())

	return false
}

// allowedPeer reports whether a relay may exchange a datagram with addr.
func (srv *Server) allowedPeer(addr net.Addr) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ap := ua.AddrPort()
	_, ok = srv.peers[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]

	return ok
}

// UDPAddrPort is the local address of a UDP socket.
func UDPAddrPort(c net.PacketConn) netip.AddrPort {
	a, _ := c.LocalAddr().(*net.UDPAddr)

	return a.AddrPort()
}

// quietLoggers drops pion's own log lines: the server logs what matters
// (refusals) itself.
type quietLoggers struct{}

// NewLogger returns a logger that discards everything.
func (quietLoggers) NewLogger(string) logging.LeveledLogger {
	f := logging.NewDefaultLoggerFactory()
	f.Writer = io.Discard
	f.DefaultLogLevel = logging.LogLevelDisabled

	return f.NewLogger("turn")
}
