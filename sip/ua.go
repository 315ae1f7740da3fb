package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// UA is the trunk-side SIP user agent (RFC 3261 section 8): it listens on the configured
// transports, registers to trunks, places outbound calls (Dial) and hands inbound INVITEs to
// the function given to Serve. It is built on sipgo's transport, transaction and dialog layers.
//
// Lifecycle: NewUA allocates; Listen binds the sockets (Serve calls it when needed); Serve runs
// until its context is cancelled, then hangs up every call, un-registers, closes the sockets and
// returns once every goroutine it started has ended. A UA serves once.
type UA struct {
	cfg    Config
	log    *slog.Logger
	sua    *sipgo.UserAgent
	srv    *sipgo.Server
	inflow *inflow   // gate of the UDP listeners, see drain.go
	gate   *dialGate // gate of outgoing TCP and TLS connections, see dialgate.go
	trunks []*trunk

	served   atomic.Bool
	draining atomic.Bool
	handler  func(*IncomingCall)

	mu        sync.Mutex
	listeners map[telephony.Transport]*boundListener
	clients   map[telephony.Transport]*sipgo.Client
	dialogs   map[string]*Call
	incoming  map[*IncomingCall]struct{}
	serving   bool
	quit      bool          // no new tracked goroutines (see enter)
	stop      chan struct{} // closed when Serve's context is done
	started   chan struct{} // closed when Serve accepts requests and Dial works

	wg sync.WaitGroup // goroutines of calls and request handlers, see enter
}

// trunk is a configured trunk with its live counters.
type trunk struct {
	Trunk
	calls atomic.Int32
	reg   *registration
}

// boundListener is a bound SIP socket.
type boundListener struct {
	transport  telephony.Transport
	local      netip.AddrPort
	publicPort int
	closer     io.Closer
	serve      func() error
	conn       sipmsg.Connection // a UDP listener's connection in sipgo's pool, once serving
}

// NewUA validates cfg (every problem is reported at once) and allocates a user agent without
// opening sockets or starting goroutines.
func NewUA(cfg Config) (*UA, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	gate := newDialGate()
	sua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgenTLSConfig(cfg.ClientTLS),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(log),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(log),
			// Last: the transport layer copies connection reuse and the read filter set by the
			// options before it into these transports.
			sipmsg.WithTransportLayerTransports(gate.transports()),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: create user agent: %w", err)
	}
	srv, err := sipgo.NewServer(sua, sipgo.WithServerLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sip: create server: %w", err)
	}
	ua := &UA{
		cfg:       cfg,
		log:       log,
		sua:       sua,
		srv:       srv,
		inflow:    newInflow(),
		gate:      gate,
		listeners: map[telephony.Transport]*boundListener{},
		clients:   map[telephony.Transport]*sipgo.Client{},
		dialogs:   map[string]*Call{},
		incoming:  map[*IncomingCall]struct{}{},
		stop:      make(chan struct{}),
		started:   make(chan struct{}),
	}
	for _, t := range cfg.Trunks {
		tr := &trunk{Trunk: t}
		if t.Register {
			tr.reg = newRegistration(ua, tr)
		}
		ua.trunks = append(ua.trunks, tr)
	}
	srv.OnInvite(ua.onInvite)
	srv.OnAck(ua.onAck)
	srv.OnBye(ua.onBye)
	srv.OnCancel(ua.onCancel)
	srv.OnOptions(ua.onOptions)
	srv.OnUpdate(ua.onUpdate)
	srv.OnNoRoute(ua.onNoRoute)
	return ua, nil
}

// Listen binds every configured listener. It is optional: Serve calls it when it has not been
// called. Calling it first lets a caller learn ports chosen by the system (ListenAddr) before
// serving. It returns the first bind error, with every socket bound so far closed again.
func (ua *UA) Listen() error {
	ua.mu.Lock()
	defer ua.mu.Unlock()
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
		gated := &gatedPacketConn{PacketConn: conn, in: ua.inflow, local: conn.LocalAddr().String()}
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

// Serve binds the listeners (unless Listen did), starts registrations and answers requests,
// calling h in its own goroutine for every acceptable inbound INVITE. h must not block for long:
// it hands the IncomingCall on and returns; the call is then rung, answered or rejected from any
// goroutine. Serve returns when ctx is done and everything it started has ended: calls in
// progress are hung up (BYE), ringing calls get 503, registrations are removed (REGISTER with
// Expires 0, RFC 3261 section 10.2.2) and the sockets are closed. From the moment it starts
// closing the sockets it opens no TCP or TLS connection: an answer to a request whose connection
// is gone by then fails rather than connecting to the Via address (RFC 3261 section 18.2.2).
// It returns a bind error at once.
func (ua *UA) Serve(ctx context.Context, h func(*IncomingCall)) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrServeState)
	}
	if !ua.served.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: called twice", ErrServeState)
	}
	if err := ua.Listen(); err != nil {
		return err
	}
	ua.handler = h
	ua.mu.Lock()
	ua.serving = true
	listeners := make([]*boundListener, 0, len(ua.listeners))
	for _, b := range ua.listeners {
		listeners = append(listeners, b)
	}
	ua.mu.Unlock()

	var lwg sync.WaitGroup
	for _, b := range listeners {
		lwg.Go(func() {
			if err := b.serve(); err != nil && !errors.Is(err, net.ErrClosed) {
				ua.log.Error("sip listener stopped", "transport", string(b.transport), "error", err)
			}
		})
		ua.log.Info("sip listening", "transport", string(b.transport), "addr", b.local.String())
	}
	ua.awaitUDPListeners(listeners)
	close(ua.started)
	var rwg sync.WaitGroup
	for _, t := range ua.trunks {
		if t.reg != nil {
			rwg.Go(func() { t.reg.run(ua.stop) })
		}
	}

	<-ctx.Done()
	ua.draining.Store(true)
	ua.mu.Lock()
	ua.quit = true
	close(ua.stop)
	ua.mu.Unlock()
	ua.hangupAll()
	rwg.Wait() // registrations un-register once stop is closed
	ua.wg.Wait()

	ua.mu.Lock()
	ua.serving = false
	ua.mu.Unlock()
	ua.closeTransport(listeners, &lwg)
	return nil
}

// awaitUDPListeners waits until sipgo's transport has taken the UDP listening sockets into its
// connection pool, so that requests are sent from them (it does so in the serving goroutine),
// and keeps their connections for the shutdown (see closeTransport).
func (ua *UA) awaitUDPListeners(listeners []*boundListener) {
	pool := ua.sua.TransportLayer().Pool("udp")
	for _, b := range listeners {
		if b.transport != telephony.TransportUDP {
			continue
		}
		key := b.closer.(net.PacketConn).LocalAddr().String()
		for i := 0; i < 2000 && b.conn == nil; i++ {
			if b.conn = pool.Get(key); b.conn == nil {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// enter registers a goroutine the UA waits for before Serve returns; false once Serve is
// shutting down, in which case the caller must not start it.
func (ua *UA) enter() bool {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.quit {
		return false
	}
	ua.wg.Add(1)
	return true
}

// leave ends a goroutine registered by enter.
func (ua *UA) leave() { ua.wg.Done() }

// hangupAll ends every call in progress with a BYE; ringing incoming calls end by themselves
// once ua.stop is closed.
func (ua *UA) hangupAll() {
	ua.mu.Lock()
	calls := make([]*Call, 0, len(ua.dialogs))
	for _, c := range ua.dialogs {
		calls = append(calls, c)
	}
	ua.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), ua.cfg.HangupTimeout)
			defer cancel()
			_ = c.hangup(ctx, ErrShuttingDown)
		})
	}
	wg.Wait()
}

// Ready reports whether the user agent is serving and every trunk that registers holds a
// current registration; suitable for a readiness probe.
func (ua *UA) Ready() bool {
	ua.mu.Lock()
	serving := ua.serving
	ua.mu.Unlock()
	if !serving || ua.draining.Load() {
		return false
	}
	for _, t := range ua.trunks {
		if t.reg != nil && !t.reg.state().Registered {
			return false
		}
	}
	return true
}

// RegistrationStates returns the registration state of every trunk that registers, in configuration order.
func (ua *UA) RegistrationStates() []RegistrationState {
	var out []RegistrationState
	for _, t := range ua.trunks {
		if t.reg != nil {
			out = append(out, t.reg.state())
		}
	}
	return out
}

// ActiveCalls returns the number of established calls (both directions).
func (ua *UA) ActiveCalls() int {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return len(ua.dialogs)
}

func (ua *UA) trunkByName(name string) *trunk {
	for _, t := range ua.trunks {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// reserve takes one call slot of t; false when the trunk is at MaxCalls.
func (t *trunk) reserve() bool {
	for {
		n := t.calls.Load()
		if t.MaxCalls > 0 && int(n) >= t.MaxCalls {
			return false
		}
		if t.calls.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (t *trunk) release() { t.calls.Add(-1) }

// client returns the sipgo client and listener for transport tp.
func (ua *UA) client(tp telephony.Transport) (*sipgo.Client, *boundListener, error) {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if !ua.serving {
		return nil, nil, ErrNotServing
	}
	c, ok := ua.clients[tp]
	if !ok {
		return nil, nil, ErrNoTransport
	}
	return c, ua.listeners[tp], nil
}

// contact returns our Contact header for transport tp with the given user part.
func (ua *UA) contact(user string, b *boundListener) sipmsg.ContactHeader {
	uri := sipmsg.Uri{Scheme: "sip", User: user, Host: ua.cfg.PublicHost, Port: b.publicPort}
	if b.transport != telephony.TransportUDP {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", string(b.transport))
	}
	return sipmsg.ContactHeader{Address: uri}
}

// dialogUA returns the sipgo dialog helper for the transport a request arrived on.
func (ua *UA) dialogUA(tp telephony.Transport, user string) (*sipgo.DialogUA, error) {
	c, b, err := ua.client(tp)
	if err != nil {
		return nil, err
	}
	return &sipgo.DialogUA{Client: c, ContactHDR: ua.contact(user, b)}, nil
}

// mediaAddr is the address written in SDP for an RTP socket bound at local.
func (ua *UA) mediaAddr(local netip.AddrPort) netip.AddrPort {
	if ua.cfg.MediaIP.IsValid() {
		return netip.AddrPortFrom(ua.cfg.MediaIP, local.Port())
	}
	if ip, err := netip.ParseAddr(ua.cfg.PublicHost); err == nil {
		return netip.AddrPortFrom(ip, local.Port())
	}
	return local
}

func transportOf(m sipmsg.Message) telephony.Transport {
	switch sipmsg.NetworkToLower(m.Transport()) {
	case "tcp":
		return telephony.TransportTCP
	case "tls":
		return telephony.TransportTLS
	default:
		return telephony.TransportUDP
	}
}

func sourceAddr(req *sipmsg.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		host, _, _ := net.SplitHostPort(req.Source())
		ip, _ := netip.ParseAddr(host)
		return ip.Unmap()
	}
	return ap.Addr().Unmap()
}

// trunkForSource returns the first trunk whose AllowedSources contain ip.
func (ua *UA) trunkForSource(ip netip.Addr) *trunk {
	if !ip.IsValid() {
		return nil
	}
	for _, t := range ua.trunks {
		for _, p := range t.AllowedSources {
			if p.Contains(ip) {
				return t
			}
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
