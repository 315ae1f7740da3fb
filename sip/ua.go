package sip

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// UA is the trunk-side SIP user agent (RFC 3261 section 8): it listens on the configured
// transports, registers to trunks, places outbound calls (Dial) and hands inbound INVITEs to
// the function given to Serve. It is built on sipgo's transport, transaction and dialog layers.
//
// Lifecycle: NewUA allocates; Listen binds the sockets (Serve calls it when needed); Serve runs
// until its context is cancelled or Close is called, then hangs up every call, un-registers,
// closes the sockets and returns once every goroutine it started has ended. A UA serves once.
// Close releases everything, whether Serve ran or not.
type UA struct {
	cfg    Config
	log    *slog.Logger
	sua    *sipgo.UserAgent
	srv    *sipgo.Server
	inflow *inflow   // gate of the UDP listeners, see drain.go
	gate   *dialGate // gate of outgoing TCP and TLS connections, see dialgate.go
	// trunks is the current trunk list (trunkList), replaced as a whole by
	// SetTrunks; calls keep the trunk they started on.
	trunks atomic.Pointer[[]*trunk]

	counters uaCounters
	refusals *refusalLog
	nonces   *Nonces // of inbound digest challenges (inboundselect.go)
	invites  *inviteLimiter

	served   atomic.Bool
	draining atomic.Bool
	handler  func(*IncomingCall)

	mu        sync.Mutex
	listeners map[telephony.Transport]*boundListener
	clients   map[telephony.Transport]*sipgo.Client
	dialogs   map[string]*Call
	ringing   map[string]*IncomingCall // inbound calls before their final response, by ringingKey
	serving   bool
	quit      bool          // no new tracked goroutines or dials (see enter)
	stop      chan struct{} // closed when the shutdown begins
	started   chan struct{} // closed when Serve accepts requests and Dial works
	closed    bool          // Close was called
	closing   chan struct{} // closed by the first Close
	serveDone chan struct{} // set when Serve owns the shutdown; closed when it returns
	released  chan struct{} // closed when Close has released a UA that never served

	wg    sync.WaitGroup // goroutines of calls and request handlers, see enter
	dials sync.WaitGroup // Dial calls in progress, see enterDial
	// regs are the registrations' goroutines; regsStarted (under mu) says
	// that Serve started them, so that SetTrunks starts new ones.
	regs        sync.WaitGroup
	regsStarted bool
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
	var ua *UA
	screen := func(p sipmsg.TransportReadProps, data []byte) ([]byte, error) { return ua.screen(p, data) }
	sua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgenTLSConfig(cfg.ClientTLS),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(log),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(log),
			sipmsg.WithTransportLayerReadFilter(func(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
				return screen(p, data)
			}),
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
	ua = &UA{
		cfg:       cfg,
		log:       log,
		nonces:    NewNonces(),
		refusals:  newRefusalLog(log),
		invites:   newInviteLimiter(cfg.InviteRate, cfg.InviteBurst),
		ringing:   map[string]*IncomingCall{},
		sua:       sua,
		srv:       srv,
		inflow:    newInflow(),
		gate:      gate,
		listeners: map[telephony.Transport]*boundListener{},
		clients:   map[telephony.Transport]*sipgo.Client{},
		dialogs:   map[string]*Call{},
		stop:      make(chan struct{}),
		started:   make(chan struct{}),
		closing:   make(chan struct{}),
		released:  make(chan struct{}),
	}
	trunks := make([]*trunk, 0, len(cfg.Trunks))
	for _, t := range cfg.Trunks {
		trunks = append(trunks, ua.newTrunk(t))
	}
	ua.trunks.Store(&trunks)
	srv.OnInvite(ua.onInvite)
	srv.OnAck(ua.onAck)
	srv.OnBye(ua.inDialog((*Call).onBye))
	srv.OnCancel(ua.onCancel)
	srv.OnOptions(ua.onOptions)
	srv.OnUpdate(ua.inDialog((*Call).onUpdate))
	srv.OnPrack(ua.onPrack)
	srv.OnInfo(ua.inDialog((*Call).onInfo))
	srv.OnNotify(ua.inDialog((*Call).onNotify))
	srv.OnRefer(ua.onRefer)
	srv.OnNoRoute(ua.onNoRoute)
	return ua, nil
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
	for _, t := range ua.trunkList() {
		if t.reg != nil && !t.reg.state().Registered {
			return false
		}
	}
	return true
}

// ReservePorts binds an RTP port pair from Config.RTPPorts for a call about to be dialled, so
// that the caller learns before committing to the call (answering a browser, say) whether one
// is free; pass it in DialRequest.RTP, or Close it when the call is not dialled. It returns
// ErrNoPorts when every pair is taken (counted in PortPool.Exhausted).
func (ua *UA) ReservePorts() (*RTPConn, error) { return ua.cfg.RTPPorts.Listen() }

// Ports returns the RTP port pool of the user agent (Config.RTPPorts), for capacity reporting.
func (ua *UA) Ports() *PortPool { return ua.cfg.RTPPorts }

// RegistrationStates returns the registration state of every trunk that registers, in configuration order.
func (ua *UA) RegistrationStates() []RegistrationState {
	var out []RegistrationState
	for _, t := range ua.trunkList() {
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
	for _, t := range ua.trunkList() {
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

// transportOf returns the transport m came over.
func transportOf(m sipmsg.Message) telephony.Transport { return transportOfNetwork(m.Transport()) }

func itoa(n int) string { return strconv.Itoa(n) }
