// Package gateway is Webtrunk's call control: it serves the browsers'
// WebSocket signaling, answers their WebRTC through a browser.Stack (package
// browserleg, handed in by the caller, so that call control links no
// WebRTC library), drives the trunk side through package sip, bridges the
// media of each call through package bridge, and exposes health,
// readiness and Prometheus metrics over HTTP.
//
// A Gateway is built in phases: New validates and allocates without side
// effects, Listen binds every socket (so a port in use is reported before
// anything runs), and Run serves until its context is cancelled, then drains
// within the configured grace period and returns once every goroutine it
// started has ended.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/fraud"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/turnserver"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// ErrClosed is returned by Listen and Run on a gateway that has already run
// or was closed.
var ErrClosed = errors.New("gateway: closed")

// registrationPoll is how often the registration gauge is refreshed.
const registrationPoll = time.Second

// drainPoll is how often a draining gateway checks whether calls remain.
const drainPoll = 100 * time.Millisecond

// Gateway is one Webtrunk process's worth of call control. Create it with New.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *Metrics
	auth    *auth.Authenticator
	ua      *sip.UA
	// health and carrier: trunk availability and its metrics
	// (trunkhealth.go).
	health   *trunkHealth
	carrier  *carrierMetrics
	hub      *hub
	sessions *sessionSet
	// admission holds calls in progress against calls.max_concurrent.
	admission *admission
	connLimit *auth.Limiter
	// openConns counts the WebSockets open now (http.max_connections).
	openConns atomic.Int64
	// origins are the gateway's own origins (ownOrigins), set by Listen.
	origins map[string]struct{}
	// originLog and limitLog throttle the log lines of refused WebSockets.
	originLog, limitLog *throttle
	// iceTimeout is how long a browser may take to complete ICE and DTLS
	// (nanoseconds; iceConnectTimeout, shortened by tests).
	iceTimeout atomic.Int64
	iceServers []signaling.ICEServer
	// turn is the embedded TURN server (turn.go), nil when off; turnURLs
	// are the TURN URLs browsers get credentials for.
	turn     *turnserver.Server
	turnURLs []string
	// iceRefresh is how often connections get new TURN credentials
	// (nanoseconds; half turn.credential_lifetime, shortened by tests).
	iceRefresh atomic.Int64
	// resume holds the resume tokens of connections (resume.go).
	resumeMu sync.Mutex
	resume   *resumeStore
	// listenWebRTC binds the browsers' WebRTC stack in Listen.
	listenWebRTC browser.Listen

	mu       sync.Mutex
	httpLn   net.Listener
	rtc      browser.Stack
	started  bool
	closed   bool
	draining atomic.Bool
	ready    atomic.Bool

	// callCtx is the parent of every session; cancelled with errShutdown
	// when the grace period is over.
	callCtx    context.Context //nolint:containedctx // lifetime of all calls
	callCancel context.CancelCauseFunc
	sessionWG  sync.WaitGroup
	connWG     sync.WaitGroup

	httpServer *http.Server
	// adminLn and adminServer are the admin listener (admin.go), nil when
	// admin.listen is empty; adminLog throttles its refusal log lines.
	adminLn     net.Listener
	adminServer *http.Server
	adminLog    *throttle
	// pol is the current call policy (policy.go), swapped by Reload.
	pol atomic.Pointer[policy]
	// counter holds users' calls against their fraud limits (limits.go);
	// its counts outlive reloads.
	counter fraud.Counter
	// shared is the Redis counter with its metrics (cluster.go), nil
	// without cluster.redis.url.
	shared *sharedLimits
	// ext registers users' extensions on their registrars
	// (extensions.go).
	ext *extensions
	// locks are the users an operator locked (admin API).
	locks userLocks
	// configFile is the file ReloadFile reads (SetConfigFile), under mu;
	// reloadMu serialises reloads (SIGHUP and the admin API may race).
	configFile string
	reloadMu   sync.Mutex

	// records writes the call detail records (records.go), nil when the
	// cdr section names no file and no sink; opened by Listen.
	records *cdr.Recorder
	// hooks deliver events to the webhooks' receivers (events.go), nil
	// without receivers; dialAuth is the dial authorisation hook, nil
	// without one. Both are set by Listen.
	hooks    *webhook.Sender
	dialAuth *webhook.Authorizer
}

// New checks cfg and prepares a gateway. It binds no socket and starts no
// goroutine. cfg must have been loaded with config.Load (defaults applied and
// validated); logger may be nil to discard logs; webrtc binds the browsers'
// WebRTC stack when the gateway listens (browserleg.ListenConfig). It
// returns an error when the authentication settings, a TLS certificate of
// a SIP listener, the RTP port range or a trunk cannot be used.
func New(cfg *config.Config, logger *slog.Logger, webrtc browser.Listen) (*Gateway, error) {
	if cfg == nil || webrtc == nil {
		return nil, errors.New("gateway: nil config or webrtc stack") //nolint:err113 // programming error, not matched by callers
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	authn, err := auth.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	sc, err := sipConfig(cfg, logger.With("component", "sip"))
	if err != nil {
		return nil, err
	}
	ua, err := sip.NewUA(sc)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	pol, err := newPolicy(cfg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:     cfg,
		log:     logger,
		metrics: NewMetrics(),
		auth:    authn,
		ua:      ua,
		hub:     newHub(),
		// The WebRTC stack is bound by Listen.
		listenWebRTC: webrtc,
		sessions:     newSessionSet(),
		resume:       newResumeStore(),
		admission:    newAdmission(cfg.Calls.MaxConcurrent),
		// Each WebSocket upgrade spends one token of its address.
		connLimit: auth.NewLimiter(connRate, connBurst, auth.DefaultLimiterSize),
		originLog: newThrottle(originLogInterval, originLogKeys),
		limitLog:  newThrottle(originLogInterval, originLogKeys),
	}
	g.pol.Store(pol)
	if g.counter, err = g.newCounter(cfg); err != nil {
		return nil, err
	}
	g.ext = newExtensions(g, cfg)
	g.hub.presence = g.ext.presence
	g.iceServers = signaling.ICEServersFromConfig(cfg.WebRTC.ICEServers)
	g.iceTimeout.Store(int64(iceConnectTimeout))
	g.iceRefresh.Store(int64(cfg.TURN.CredentialLifetime / 2))
	g.metrics.CallsMaxConcurrent.Set(float64(cfg.Calls.MaxConcurrent))
	g.metrics.registerSIP(ua)
	g.carrier = newCarrierMetrics(g.metrics)
	g.health = newTrunkHealth(cfg, logger.With("component", "trunk-health"), g.carrier)
	g.metrics.registerTURN(g.turnStats)
	g.callCtx, g.callCancel = context.WithCancelCause(context.Background())
	for _, t := range cfg.Trunks {
		if t.Register.Enabled {
			g.metrics.Registrations.WithLabelValues(t.Name).Set(0)
		}
	}
	g.httpServer = &http.Server{
		Handler:           g.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	g.adminLog = newThrottle(adminLogInterval, originLogKeys)
	if cfg.CDR.File != "" || !cfg.CDR.Postgres.DSN.IsZero() {
		g.metrics.registerRecords(func() *cdr.Recorder { return g.records })
	}
	if len(cfg.Webhooks.Receivers) > 0 {
		g.metrics.registerWebhooks(func() *webhook.Sender { return g.hooks })
	}
	if cfg.Admin.Listen != "" {
		g.adminServer = &http.Server{
			Handler:           g.adminRoutes(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}

	return g, nil
}

// Metrics returns the gateway's Prometheus collectors.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// Listen binds every socket: the HTTP listener, the admin listener, the SIP
// listeners and the one WebRTC UDP port (and ICE-TCP port when
// configured). It is called by Run when needed; calling it first lets a
// caller learn the bound addresses (HTTPAddr, AdminAddr, SIPAddr,
// WebRTCAddr) when the configuration asks for port 0.
// It returns the first bind error, naming the configured address, with the
// sockets bound so far closed again.
func (g *Gateway) Listen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.closed {
		return ErrClosed
	}
	if g.httpLn != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", g.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("gateway: http listener %s: %w", g.cfg.HTTP.Listen, err)
	}
	if tc := g.cfg.HTTP.TLS; tc.Enabled() {
		cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		if err != nil {
			_ = ln.Close()

			return fmt.Errorf("gateway: http tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	var adminLn net.Listener
	if a := g.cfg.Admin.Listen; a != "" {
		if adminLn, err = lc.Listen(context.Background(), "tcp", a); err != nil {
			_ = ln.Close()

			return fmt.Errorf("gateway: admin listener %s: %w", a, err)
		}
	}
	closeHTTP := func() {
		_ = ln.Close()
		if adminLn != nil {
			_ = adminLn.Close()
		}
	}
	if err := g.openRecords(); err != nil {
		closeHTTP()

		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.openWebhooks(); err != nil {
		closeHTTP()
		if g.records != nil {
			g.records.Close()
			g.records = nil
		}

		return fmt.Errorf("gateway: %w", err)
	}
	closeHTTP = func() {
		_ = ln.Close()
		if adminLn != nil {
			_ = adminLn.Close()
		}
		if g.records != nil {
			g.records.Close()
			g.records = nil
		}
		if g.hooks != nil {
			g.hooks.Close()
			g.hooks = nil
		}
	}
	rtc, err := g.listenWebRTC(g.cfg.WebRTC, g.log.With("component", "webrtc"))
	if err != nil {
		closeHTTP()

		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.ua.Listen(); err != nil {
		closeHTTP()
		_ = rtc.Close()

		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.listenTURN(rtc.UDPAddr()); err != nil {
		_ = ln.Close()
		_ = rtc.Close()
		_ = g.ua.Close()

		return err
	}
	g.httpLn = ln
	g.adminLn = adminLn
	g.rtc = rtc
	g.origins = ownOrigins(g.cfg.HTTP.PublicURL, g.cfg.HTTP.TLS.Enabled(), ln.Addr())

	return nil
}

// HTTPAddr is the bound HTTP address, or nil before Listen.
func (g *Gateway) HTTPAddr() net.Addr {
	return g.boundAddr(&g.httpLn)
}

// AdminAddr is the bound address of the admin listener, or nil before
// Listen and when admin.listen is empty.
func (g *Gateway) AdminAddr() net.Addr {
	return g.boundAddr(&g.adminLn)
}

// boundAddr reads the listener *ln under g.mu: its address, or nil while
// there is none.
func (g *Gateway) boundAddr(ln *net.Listener) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *ln == nil {
		return nil
	}

	return (*ln).Addr()
}

// SIPAddr is the bound address of the SIP listener of transport t ("udp",
// "tcp" or "tls"), and false before Listen or when there is none.
func (g *Gateway) SIPAddr(t telephony.Transport) (netip.AddrPort, bool) {
	return g.ua.ListenAddr(t)
}

// WebRTCAddr is the bound WebRTC UDP address, the zero value before Listen.
func (g *Gateway) WebRTCAddr() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rtc == nil {
		return netip.AddrPort{}
	}

	return g.rtc.UDPAddr()
}

// Close releases the sockets of a gateway that was listened but never run;
// a running gateway is stopped by cancelling Run's context instead. Close is
// idempotent and returns nil.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.started {
		g.closed = true

		return nil
	}
	g.closed = true
	g.callCancel(ErrClosed)
	g.closeShared()
	if g.httpLn == nil {
		return nil
	}
	_ = g.httpLn.Close()
	if g.adminLn != nil {
		_ = g.adminLn.Close()
	}
	if g.records != nil {
		g.records.Close()
	}
	if g.hooks != nil {
		g.hooks.Close()
	}
	_ = g.rtc.Close()
	_ = g.ua.Close()
	g.closeTURN()

	return nil
}

// Run serves until ctx is cancelled, then shuts down: readiness turns false at
// once, new calls are refused (dial gets shutting_down, INVITEs 503), calls in
// progress may finish during the configured grace period, then whatever
// remains is hung up with reason shutdown (BYE or CANCEL), every WebSocket
// is closed with status 1001, and Run returns once every goroutine it
// started has ended. Run returns nil after a clean shutdown, or the error
// that stopped it. A Gateway runs once.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		return err
	}
	g.mu.Lock()
	if g.started || g.closed {
		g.mu.Unlock()

		return ErrClosed
	}
	g.started = true
	ln, adminLn := g.httpLn, g.adminLn
	g.mu.Unlock()

	recordsDone, hooksDone := make(chan struct{}), make(chan struct{})
	if g.records != nil {
		go func() { defer close(recordsDone); g.records.Run() }()
	} else {
		close(recordsDone)
	}
	if g.hooks != nil {
		go func() { defer close(hooksDone); g.hooks.Run() }()
	} else {
		close(hooksDone)
	}
	uaCtx, uaCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer uaCancel()
	uaErr := make(chan error, 1)
	go func() { uaErr <- g.ua.Serve(uaCtx, g.incoming) }()
	var monitor sync.WaitGroup
	monitor.Add(1)
	go func() { defer monitor.Done(); g.watchRegistrations(uaCtx) }()
	monitor.Add(1)
	go func() { defer monitor.Done(); g.health.run(uaCtx, g.ua) }()

	listening := []any{"http", ln.Addr().String(), "webrtc", g.WebRTCAddr().String()}
	if adminLn != nil {
		listening = append(listening, "admin", adminLn.Addr().String())
	}
	g.log.Info("gateway listening", listening...)
	serveErr := make(chan error, 1)
	go func() { serveErr <- g.httpServer.Serve(ln) }()
	// adminErr stays nil (never ready) without an admin listener.
	var adminErr chan error
	if adminLn != nil {
		adminErr = make(chan error, 1)
		go func() { adminErr <- g.adminServer.Serve(adminLn) }()
	}
	g.ready.Store(true)

	var runErr error
	uaReturned := false
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("gateway: http server: %w", err)
		serveErr <- nil
	case err := <-adminErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("gateway: admin server: %w", err)
		}
		adminErr <- nil
	case err := <-uaErr:
		uaReturned = true
		if err != nil {
			runErr = fmt.Errorf("gateway: sip: %w", err)
		}
	}
	g.shutdown()

	if err := <-serveErr; runErr == nil && err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = fmt.Errorf("gateway: http server: %w", err)
	}
	if adminErr != nil {
		if err := <-adminErr; runErr == nil && err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("gateway: admin server: %w", err)
		}
	}
	uaCancel()
	if !uaReturned {
		if err := <-uaErr; runErr == nil && err != nil {
			runErr = fmt.Errorf("gateway: sip: %w", err)
		}
	}
	monitor.Wait()
	if g.records != nil {
		// Every session has ended: the recorder writes what is queued.
		g.records.Close()
	}
	<-recordsDone
	if g.hooks != nil {
		// The last events are queued; what is undelivered stays on disk.
		g.hooks.Close()
	}
	<-hooksDone
	if g.dialAuth != nil {
		g.dialAuth.Client.CloseIdleConnections()
	}
	g.mu.Lock()
	rtc := g.rtc
	g.mu.Unlock()
	if err := rtc.Close(); err != nil {
		g.log.Warn("webrtc close", "error", err)
	}
	g.closeTURN()
	g.closeShared()
	g.log.Info("gateway stopped")

	return runErr
}

// shutdown drains: it refuses new calls and connections, waits for the
// calls in progress up to the grace period, hangs up the rest, closes the
// WebSockets and stops the HTTP server.
func (g *Gateway) shutdown() {
	g.mu.Lock()
	g.ready.Store(false)
	g.draining.Store(true)
	g.mu.Unlock()
	// Registrars stop sending new calls here before anything else.
	g.ext.drain()
	grace := g.policy().cfg.Shutdown.GracePeriod
	g.log.Info("gateway shutting down", "grace_period", grace, "calls", g.sessions.len())
	if !g.waitDrained(grace) {
		g.log.Info("grace period over, hanging up", "calls", g.sessions.len())
	}
	g.mu.Lock()
	g.callCancel(errShutdown)
	g.mu.Unlock()
	g.sessionWG.Wait()
	g.stopResumes()
	for _, c := range g.hub.connections() {
		c.goAway()
	}
	g.connWG.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := g.httpServer.Shutdown(sctx); err != nil {
		_ = g.httpServer.Close()
	}
	if g.adminServer != nil {
		if err := g.adminServer.Shutdown(sctx); err != nil {
			_ = g.adminServer.Close()
		}
	}
}

// waitDrained waits until no call is in progress, at most grace; it reports
// whether the calls all ended by themselves.
func (g *Gateway) waitDrained(grace time.Duration) bool {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(drainPoll)
	defer poll.Stop()
	for g.sessions.len() > 0 {
		select {
		case <-deadline.C:
			return false
		case <-poll.C:
		}
	}

	return true
}

// startSession counts a new session unless the gateway has stopped taking
// calls.
func (g *Gateway) startSession(s *session) bool {
	return g.startCall(s.dir, func() { g.sessions.add(s) })
}

// startRinging counts a ringing inbound call unless the gateway has
// stopped taking calls.
func (g *Gateway) startRinging(in *inboundCall) bool {
	return g.startCall(directionInbound, func() { g.sessions.addRinging(in) })
}

// startCall counts a call of direction dir, which add registers, unless
// the gateway has stopped taking calls.
func (g *Gateway) startCall(dir string, add func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.callCtx.Err() != nil {
		return false
	}
	g.sessionWG.Add(1)
	add()
	g.metrics.CallsActive.WithLabelValues(dir).Inc()

	return true
}

// watchRegistrations keeps the registration gauge current until ctx ends.
func (g *Gateway) watchRegistrations(ctx context.Context) {
	t := time.NewTicker(registrationPoll)
	defer t.Stop()
	last := map[string]sip.RegistrationState{}
	for {
		states := g.ua.RegistrationStates()
		g.publishRegistrations(states, last)
		for _, st := range states {
			v := 0.0
			if st.Registered {
				v = 1
			}
			g.metrics.Registrations.WithLabelValues(st.Trunk).Set(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
