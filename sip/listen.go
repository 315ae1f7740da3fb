package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"

	"github.com/emiago/sipgo"

	"github.com/webtrunk/webtrunk/telephony"
)

// Listen binds every configured listener. It is optional: Serve calls it when it has not been
// called. Calling it first lets a caller learn ports chosen by the system (ListenAddr) before
// serving. It returns the first bind error, with every socket bound so far closed again, and
// ErrClosed after Close.
func (ua *UA) Listen() error {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		return ErrClosed
	}
	if len(ua.listeners) > 0 {
		return nil
	}
	bound := map[telephony.Transport]*boundListener{}
	closeAll := func() {
		for _, b := range bound {
			_ = b.closer.Close()
		}
	}
	for _, l := range ua.cfg.Listeners {
		b, err := ua.bind(l)
		if err != nil {
			closeAll()
			return err
		}
		bound[l.Transport] = b
	}
	host := ua.cfg.PublicHost
	if host == "" {
		first := bound[ua.cfg.Listeners[0].Transport].local.Addr()
		if first.IsUnspecified() {
			closeAll()
			return fmt.Errorf("%w: PublicHost is required when listening on an unspecified address", ErrInvalidConfig)
		}
		host = first.String()
	}
	ua.cfg.PublicHost = host
	for tp, b := range bound {
		opts := []sipgo.ClientOption{
			sipgo.WithClientHostname(host),
			sipgo.WithClientPort(b.publicPort),
			sipgo.WithClientNAT(),
			sipgo.WithClientLogger(ua.log),
		}
		if tp == telephony.TransportUDP {
			// Send from the listening socket so that responses and requests of the trunk reach it (RFC 3581).
			opts = append(opts, sipgo.WithClientConnectionAddr(b.local.String()))
		}
		c, err := sipgo.NewClient(ua.sua, opts...)
		if err != nil {
			closeAll()
			return fmt.Errorf("sip: create client: %w", err)
		}
		ua.clients[tp] = c
	}
	ua.listeners = bound
	return nil
}

func (ua *UA) bind(l Listener) (*boundListener, error) {
	b := &boundListener{transport: l.Transport}
	switch l.Transport {
	case telephony.TransportUDP:
		addr, err := net.ResolveUDPAddr("udp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen %s %s: %w", l.Transport, l.Addr, err)
		}
		network := "udp"
		if addr.IP == nil || addr.IP.To4() != nil {
			network = "udp4"
		}
		conn, err := net.ListenUDP(network, addr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen %s %s: %w", l.Transport, l.Addr, err)
		}
		b.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
		gated := &gatedPacketConn{PacketConn: conn, udp: conn, in: ua.inflow, local: conn.LocalAddr().String(), tooLarge: ua.tooLarge}
		b.closer = gated
		b.serve = func() error { return ua.srv.ServeUDP(gated) }
	case telephony.TransportTCP, telephony.TransportTLS:
		var ln net.Listener
		var err error
		ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", l.Addr)
		if err == nil && l.Transport == telephony.TransportTLS {
			ln = tls.NewListener(ln, l.TLS)
		}
		if err != nil {
			return nil, fmt.Errorf("sip: listen %s %s: %w", l.Transport, l.Addr, err)
		}
		b.local = ln.Addr().(*net.TCPAddr).AddrPort()
		b.closer = ln
		if l.Transport == telephony.TransportTLS {
			b.serve = func() error { return ua.srv.ServeTLS(ln) }
		} else {
			b.serve = func() error { return ua.srv.ServeTCP(ln) }
		}
	}
	b.local = netip.AddrPortFrom(b.local.Addr().Unmap(), b.local.Port())
	b.publicPort = l.PublicPort
	if b.publicPort == 0 {
		b.publicPort = int(b.local.Port())
	}
	return b, nil
}

// ListenAddr returns the bound address of the listener for transport t, and false when there is none (yet).
func (ua *UA) ListenAddr(t telephony.Transport) (netip.AddrPort, bool) {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	b, ok := ua.listeners[t]
	if !ok {
		return netip.AddrPort{}, false
	}
	return b.local, true
}
