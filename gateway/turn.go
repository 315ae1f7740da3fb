package gateway

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/turnserver"
)

// listenTURN starts the embedded TURN server when turn.listen is set,
// relaying only to the gateway's WebRTC media addresses (its announced
// addresses at the media port), and works out the TURN URLs browsers get
// credentials for. g.mu is held.
func (g *Gateway) listenTURN(media netip.AddrPort) error {
	t := g.cfg.TURN
	g.turnURLs = append([]string(nil), t.URLs...)
	if !t.Embedded() {
		return nil
	}
	s := turnserver.Settings{
		RelayIP: t.RelayIP, Secret: t.Secret.Reveal(), Realm: t.Realm,
		MaxPerUser: t.MaxAllocationsPerUser, MaxPerSource: t.MaxAllocationsPerSource, MaxBandwidth: t.MaxBandwidth,
	}
	var err error
	if s.Listen, err = listenAddr(t.Listen); err != nil {
		return fmt.Errorf("gateway: turn.listen: %w", err)
	}
	if t.TLSListen != "" {
		if s.TLSListen, err = listenAddr(t.TLSListen); err != nil {
			return fmt.Errorf("gateway: turn.tls_listen: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(t.TLS.CertFile, t.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("gateway: turn tls: %w", err)
		}
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, ip := range g.cfg.WebRTC.PublicIPs {
		s.Peers = append(s.Peers, netip.AddrPortFrom(ip.Unmap(), media.Port()))
	}
	if a := media.Addr(); a.IsValid() && !a.IsUnspecified() {
		s.Peers = append(s.Peers, netip.AddrPortFrom(a.Unmap(), media.Port()))
	}
	srv, err := turnserver.Listen(s, g.log.With("component", "turn"))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.turn = srv
	hostPort := func(p uint16) string { return net.JoinHostPort(t.Host, strconv.Itoa(int(p))) }
	port := srv.UDPAddr().Port()
	g.turnURLs = append(g.turnURLs, "turn:"+hostPort(port)+"?transport=udp", "turn:"+hostPort(port)+"?transport=tcp")
	if a := srv.TLSAddr(); a.IsValid() {
		g.turnURLs = append(g.turnURLs, "turns:"+hostPort(a.Port())+"?transport=tcp")
	}
	g.log.Info("turn server listening", "udp_tcp", srv.UDPAddr().String(), "tls", srv.TLSAddr().String(), "relay_ip", t.RelayIP.String())

	return nil
}

// listenAddr parses a validated host:port bind address (an empty host is
// every interface).
func listenAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		host = "0.0.0.0"
	}

	return netip.ParseAddrPort(net.JoinHostPort(host, port))
}

// closeTURN stops the embedded TURN server, if any.
func (g *Gateway) closeTURN() {
	if g.turn != nil {
		_ = g.turn.Close()
	}
}

// turnStats are the embedded TURN server's counters (zero without one).
func (g *Gateway) turnStats() turnserver.Stats {
	g.mu.Lock()
	srv := g.turn
	g.mu.Unlock()
	if srv == nil {
		return turnserver.Stats{}
	}

	return srv.Stats()
}

// iceServersFor returns the ICE servers user's browser gets: the
// configured ones, and the TURN servers with credentials minted now for
// user (turn.credential_lifetime, TURN REST scheme).
func (g *Gateway) iceServersFor(user string) []signaling.ICEServer {
	g.mu.Lock()
	urls := g.turnURLs
	g.mu.Unlock()
	if len(urls) == 0 {
		return g.iceServers
	}
	t := g.cfg.TURN
	username, password := turnserver.Credentials(t.Secret.Reveal(), user, t.CredentialLifetime, time.Now())
	out := make([]signaling.ICEServer, 0, len(g.iceServers)+1)
	out = append(out, g.iceServers...)

	return append(out, signaling.ICEServer{URLs: urls, Username: username, Credential: password})
}

// TURNAddr is the embedded TURN server's UDP and TCP address, the zero
// value without one or before Listen.
func (g *Gateway) TURNAddr() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.turn == nil {
		return netip.AddrPort{}
	}

	return g.turn.UDPAddr()
}

// iceRefreshTicker returns the channel on which a connection refreshes
// its TURN credentials (every half turn.credential_lifetime; never
// without TURN) and the function that stops it.
func (g *Gateway) iceRefreshTicker() (<-chan time.Time, func()) {
	d := time.Duration(g.iceRefresh.Load())
	if !g.cfg.TURN.Enabled() || d <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(d)

	return t.C, t.Stop
}

// refreshICEServers sends an authenticated connection new TURN
// credentials (protocol message ice_servers).
func (c *wsConn) refreshICEServers() {
	if id := c.identity(); id != nil {
		c.send(signaling.ICEServers{ICEServers: c.g.iceServersFor(id.UserID)})
	}
}
