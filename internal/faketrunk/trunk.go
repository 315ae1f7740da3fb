package faketrunk

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/telephony"
)

// Plan says how the trunk answers an INVITE it receives. The zero Plan
// answers at once with 200 OK in the offer's first G.711 codec.
type Plan struct {
	// Challenge, when 401 or 407, makes the trunk demand digest
	// authentication (RFC 3261 section 22) before it handles the INVITE;
	// User and Password are the credentials it accepts.
	Challenge      int
	User, Password string
	// Ring is how long the trunk rings (180 Ringing, or 183 Session
	// Progress with SDP and the tone when EarlyMedia is set) before its
	// final response.
	Ring       time.Duration
	EarlyMedia bool
	// RingForever makes it ring until the INVITE is cancelled.
	RingForever bool
	// Reject, when non-zero, is the final status instead of 200 OK.
	Reject int
	// ByeAfter, when non-zero, makes the trunk hang up with BYE this long
	// after answering.
	ByeAfter time.Duration
	// Codec is the G.711 codec the trunk answers with; the zero Codec
	// takes the offer's first one.
	Codec telephony.Codec
	// Manual leaves every response to the test (Call.Respond).
	Manual bool
}

// Option changes how New sets a trunk up.
type Option func(*Trunk)

// WithPlan sets the plan of every INVITE that no SetPlanFor names.
func WithPlan(p Plan) Option { return func(tr *Trunk) { tr.plan = p } }

// WithLogger sends sipgo's log lines to l instead of a capture of the
// trunk's own that a failing test shows.
func WithLogger(l *slog.Logger) Option { return func(tr *Trunk) { tr.log = l } }

// WithTone sets the frequency of the tone the trunk sends on every call,
// in Hz (DefaultToneHz unless given).
func WithTone(hz float64) Option { return func(tr *Trunk) { tr.toneHz = hz } }

// WithRegisterStatus sets the status the trunk answers REGISTER with (200
// unless given): a trunk that refuses registrations keeps its callers
// unregistered.
func WithRegisterStatus(code int) Option { return func(tr *Trunk) { tr.register = code } }

// Trunk is a SIP trunk on one UDP socket of 127.0.0.1: it answers the
// INVITEs it receives by plan, places calls, and records every request.
// Its methods are safe for concurrent use.
type Trunk struct {
	tb       testing.TB
	addr     netip.AddrPort
	conn     net.PacketConn
	ua       *sipgo.UserAgent
	dua      *sipgo.DialogUA
	log      *slog.Logger
	toneHz   float64
	register int

	ctx     context.Context //nolint:containedctx // the trunk's lifetime, ended by its cleanup
	cancel  context.CancelFunc
	serving sync.WaitGroup // the socket's reader
	deaf    atomic.Bool    // the reader drops every datagram: the trunk is closing
	work    sync.WaitGroup // request handlers and calls in progress

	mu       sync.Mutex
	closing  bool
	sources  map[string]bool // every address a datagram came from
	requests []*sipmsg.Request
	changed  chan struct{} // closed and replaced at each request and call
	plan     Plan
	plans    map[string]Plan // by Request-URI user (the dialled number)
	calls    map[string]*Call
	inbound  []*Call // calls from the other side, in order of arrival
	taken    int     // inbound calls returned by NextCall
}

// New binds the trunk's SIP socket on 127.0.0.1, port 0, and serves it
// until the end of the test: then calls still up are dropped (their media
// stops, no BYE is sent), and the trunk's goroutines and sockets end.
func New(tb testing.TB, opts ...Option) *Trunk {
	tb.Helper()
	tr := &Trunk{
		tb: tb, toneHz: DefaultToneHz, register: sipmsg.StatusOK,
		sources: map[string]bool{}, changed: make(chan struct{}), plans: map[string]Plan{}, calls: map[string]*Call{},
	}
	for _, o := range opts {
		o(tr)
	}
	if tr.log == nil {
		tr.log, _ = logcapture.New(tb, logcapture.Name("fake trunk log"))
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fake trunk: %v", err)
	}
	tr.conn = conn
	tr.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // a UDP socket
	tr.ua, err = sipgo.NewUA(sipgo.WithUserAgent("faketrunk"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerReadFilter(tr.seen)))
	if err != nil {
		_ = conn.Close()
		tb.Fatalf("fake trunk: %v", err)
	}
	srv, err := sipgo.NewServer(tr.ua, sipgo.WithServerLogger(tr.log))
	if err != nil {
		tb.Fatalf("fake trunk: %v", err)
	}
	client, err := sipgo.NewClient(tr.ua, sipgo.WithClientLogger(tr.log),
		sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(tr.addr.Port())),
		sipgo.WithClientConnectionAddr(tr.addr.String()))
	if err != nil {
		tb.Fatalf("fake trunk: %v", err)
	}
	tr.dua = &sipgo.DialogUA{Client: client, ContactHDR: sipmsg.ContactHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: int(tr.addr.Port())},
	}}
	tr.ctx, tr.cancel = context.WithCancel(context.Background())
	srv.OnInvite(tr.handle(tr.onInvite))
	srv.OnAck(tr.handle(tr.onAck))
	srv.OnBye(tr.handle(tr.onBye))
	srv.OnCancel(tr.handle(tr.onStray))
	srv.OnOptions(tr.handle(tr.onOK))
	srv.OnRegister(tr.handle(tr.onRegister))
	srv.OnNoRoute(tr.handle(tr.onStray))
	ready := &readySignal{PacketConn: conn, ready: make(chan struct{})}
	tr.serving.Go(func() { _ = srv.ServeUDP(ready) })
	<-ready.ready // sipgo has the socket in its pool: requests leave from it
	tb.Cleanup(tr.close)

	return tr
}

// Addr is the trunk's SIP address, to configure the other side with.
func (tr *Trunk) Addr() netip.AddrPort { return tr.addr }

// SetPlan sets the plan of every INVITE that no SetPlanFor names.
func (tr *Trunk) SetPlan(p Plan) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.plan = p
}

// SetPlanFor sets the plan of INVITEs whose Request-URI user is number.
func (tr *Trunk) SetPlanFor(number string, p Plan) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.plans[number] = p
}

func (tr *Trunk) planFor(number string) Plan {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if p, ok := tr.plans[number]; ok {
		return p
	}

	return tr.plan
}

// close drops every call, stops serving and waits for the trunk's
// goroutines. The order keeps sipgo from opening a socket after the
// trunk's own is gone: calls end while the socket still carries their
// last requests; then the trunk stops reading (datagrams are dropped) and
// the transactions stop; then, in sipgo's pool, every address the trunk
// heard from is pinned to the listening socket (a stand-in the pool's own
// clean-up leaves alone), so that a late answer fails on the closed socket
// instead of opening a new one, however late sipgo's goroutine for it
// runs; then the socket closes.
func (tr *Trunk) close() {
	pool := tr.ua.TransportLayer().Pool("udp")
	pin := &pinned{Connection: pool.Get(tr.addr.String())}
	tr.mu.Lock()
	tr.closing = true
	calls := slices.Collect(maps.Values(tr.calls))
	tr.mu.Unlock()
	tr.cancel()
	for _, c := range calls {
		c.media.Close()
	}
	tr.work.Wait()
	tr.deaf.Store(true)
	tr.ua.TransactionLayer().Close()
	if pin.Connection != nil {
		tr.mu.Lock()
		for src := range tr.sources {
			pool.Add(src, pin)
		}
		tr.mu.Unlock()
		pool.Add(tr.addr.String(), pin)
	}
	_ = tr.conn.Close()
	tr.serving.Wait()
	// The user agent is not closed: that would empty the pool of its pins
	// while a goroutine sipgo started for a datagram read before the end
	// may still be looking for a connection. The trunk opened no other
	// socket, so there is nothing else to release.
}

// pinned stands for the listening socket in sipgo's pool while the trunk
// closes: writes go through the socket (and fail once it is closed), and
// sipgo neither counts its references nor closes it.
type pinned struct{ sipmsg.Connection }

// Ref does not count.
func (*pinned) Ref(int) int { return 1 }

// TryClose never closes.
func (*pinned) TryClose() (int, error) { return 1, nil }

// Close does nothing: the trunk closes its socket itself.
func (*pinned) Close() error { return nil }

// seen is the transport's read filter: it notes where each datagram came
// from and passes it on unchanged, or drops it once the trunk is closing.
func (tr *Trunk) seen(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if tr.deaf.Load() {
		return nil, nil
	}
	tr.mu.Lock()
	tr.sources[p.RemoteAddr.String()] = true
	tr.mu.Unlock()

	return data, nil
}

// handle wraps a request handler: the request is recorded, and the
// handler runs unless the trunk is closing, counted among the work the
// trunk's cleanup waits for.
func (tr *Trunk) handle(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		tr.mu.Lock()
		if tr.closing {
			tr.mu.Unlock()

			return
		}
		tr.work.Add(1)
		tr.recordLocked(req)
		tr.mu.Unlock()
		defer tr.work.Done()
		h(req, tx)
	}
}

// record notes a request that reached the trunk outside the handlers: a
// CANCEL that sipgo matched to its INVITE's transaction.
func (tr *Trunk) record(req *sipmsg.Request) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.recordLocked(req)
}

func (tr *Trunk) recordLocked(req *sipmsg.Request) {
	tr.requests = append(tr.requests, req.Clone())
	tr.wakeLocked()
}

func (tr *Trunk) wakeLocked() {
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// Requests returns the requests of method received so far (all of them
// when method is empty), retransmissions included.
func (tr *Trunk) Requests(method sipmsg.RequestMethod) []*sipmsg.Request {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []*sipmsg.Request
	for _, r := range tr.requests {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}

	return out
}

// Summary lists the request lines received so far, for failure messages.
func (tr *Trunk) Summary() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := fmt.Sprintf("%d requests:", len(tr.requests))
	for _, r := range tr.requests {
		s += " [" + r.StartLine() + "]"
	}

	return s
}

// waitFor waits until found returns something, checking again at each
// request and call; it fails tb after ear.WaitTimeout with what.
func waitFor[T any](tb testing.TB, tr *Trunk, what string, found func() (T, bool)) T {
	tb.Helper()

	return waitChange(tb, &tr.mu, func() <-chan struct{} { return tr.changed }, found, func() string {
		return fmt.Sprintf("fake trunk: no %s within %v; %s", what, ear.WaitTimeout, tr.Summary())
	})
}

// waitChange waits until found, called with mu held, returns something;
// it checks again each time the channel changed returns (with mu held) is
// closed, and fails tb with failure() after ear.WaitTimeout.
func waitChange[T any](tb testing.TB, mu *sync.Mutex, changed func() <-chan struct{}, found func() (T, bool), failure func() string) T {
	tb.Helper()
	timeout := time.NewTimer(ear.WaitTimeout)
	defer timeout.Stop()
	for {
		mu.Lock()
		next := changed()
		v, ok := found()
		mu.Unlock()
		if ok {
			return v
		}
		select {
		case <-next:
		case <-timeout.C:
			tb.Fatal(failure())

			return v
		}
	}
}

// WaitRequest waits for a request of method in the dialog callID (in any
// dialog when callID is empty) and returns the first.
func (tr *Trunk) WaitRequest(tb testing.TB, method sipmsg.RequestMethod, callID string) *sipmsg.Request {
	tb.Helper()

	return waitFor(tb, tr, string(method)+" for call "+callID, func() (*sipmsg.Request, bool) {
		for _, r := range tr.requests {
			if r.Method == method && (callID == "" || r.CallID().Value() == callID) {
				return r, true
			}
		}

		return nil, false
	})
}

// NextCall waits for the next call the other side placed to the trunk (in
// order of arrival) and returns it as soon as its INVITE has arrived,
// whatever its plan does with it.
func (tr *Trunk) NextCall(tb testing.TB) *Call {
	tb.Helper()

	return waitFor(tb, tr, "INVITE", func() (*Call, bool) {
		if tr.taken < len(tr.inbound) {
			tr.taken++

			return tr.inbound[tr.taken-1], true
		}

		return nil, false
	})
}

// WaitCallTo waits for a call to number (compared without a leading "+",
// which the other side's number format decides) and returns it.
func (tr *Trunk) WaitCallTo(tb testing.TB, number string) *Call {
	tb.Helper()
	want := trimPlus(number)

	return waitFor(tb, tr, "INVITE for "+number, func() (*Call, bool) {
		for _, c := range tr.inbound {
			if trimPlus(c.number) == want {
				return c, true
			}
		}

		return nil, false
	})
}

func trimPlus(s string) string {
	if len(s) > 0 && s[0] == '+' {
		return s[1:]
	}

	return s
}

// addCall registers c under its Call-ID; inbound calls also join the
// queue of NextCall.
func (tr *Trunk) addCall(c *Call, inbound bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls[c.callID] = c
	if inbound {
		tr.inbound = append(tr.inbound, c)
	}
	tr.wakeLocked()
}

// call returns the call with Call-ID id, or nil.
func (tr *Trunk) call(id string) *Call {
	tr.mu.Lock()
	defer tr.mu.Unlock()

	return tr.calls[id]
}

// onOK answers 200 (OPTIONS keep-alives).
func (tr *Trunk) onOK(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
}

// onRegister answers a registration with the configured status; a 200
// grants the requested binding for 300 s (RFC 3261 section 10.3).
func (tr *Trunk) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := sipmsg.NewResponseFromRequest(req, tr.register, ReasonPhrase(tr.register), nil)
	if tr.register == sipmsg.StatusOK {
		res.AppendHeader(sipmsg.NewHeader("Expires", "300"))
		if ct := req.Contact(); ct != nil {
			res.AppendHeader(sipmsg.HeaderClone(ct))
		}
	}
	_ = tx.Respond(res)
}

// onStray answers a request no transaction or handler takes (a CANCEL for
// an unknown INVITE, an unexpected method) with 481 or 405.
func (tr *Trunk) onStray(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	code := sipmsg.StatusMethodNotAllowed
	if req.Method == sipmsg.CANCEL {
		code = sipmsg.StatusCallTransactionDoesNotExists
	}
	_ = tx.Respond(sipmsg.NewResponseFromRequest(req, code, ReasonPhrase(code), nil))
}

// onAck confirms the answered dialog the ACK belongs to.
func (tr *Trunk) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := tr.call(req.CallID().Value()); c != nil {
		c.readAck(req, tx)
	}
}

// onBye ends the dialog the BYE belongs to (RFC 3261 section 15.1.2), or
// answers 481 when it names none.
func (tr *Trunk) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := tr.call(req.CallID().Value())
	if c == nil || c.readBye(req, tx) != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))

		return
	}
	c.end(EndByeReceived)
}

// ReasonPhrase is the RFC 3261 section 21 phrase of the status codes the
// trunk sends ("Rejected" for others).
func ReasonPhrase(code int) string {
	switch code {
	case 200:
		return "OK"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}

	return "Rejected"
}

// readySignal is the trunk's socket as handed to sipgo: its first read
// reports that sipgo has put the socket in its connection pool, so that
// requests the trunk sends leave from its listening address.
type readySignal struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

// ReadFrom signals readiness, then reads.
func (r *readySignal) ReadFrom(b []byte) (int, net.Addr, error) {
	r.once.Do(func() { close(r.ready) })

	return r.PacketConn.ReadFrom(b)
}
