package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// fakeTrunk is a carrier played by the test on sipgo: one UDP socket on
// 127.0.0.1 that answers the gateway's INVITEs as its plan says (UAS), places
// calls to the gateway (UAC), and records every request it received so a test
// can assert what did (or did not) reach the trunk.
type fakeTrunk struct {
	t      *testing.T
	addr   netip.AddrPort
	conn   net.PacketConn
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	dua    *sipgo.DialogUA

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	requests []*sipmsg.Request
	reqSeen  chan struct{} // closed and replaced on each request and new call
	plan     uasPlan
	plans    map[string]uasPlan // by Request-URI user (the dialled number)
	calls    map[string]*trunkCall
	incoming chan *trunkCall // calls the gateway placed to this trunk
}

// newFakeTrunk binds the trunk's SIP socket and starts serving it; the trunk
// is closed by t.Cleanup. plan is how it answers INVITEs by default.
func newFakeTrunk(t *testing.T, logger *slog.Logger, plan uasPlan) *fakeTrunk {
	t.Helper()
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(t.Context(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake trunk: %v", err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("FakeTrunk"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("fake trunk: %v", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(logger))
	if err != nil {
		t.Fatalf("fake trunk: %v", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(logger),
		sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(addr.Port())),
		sipgo.WithClientConnectionAddr(addr.String()))
	if err != nil {
		t.Fatalf("fake trunk: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ft := &fakeTrunk{
		t: t, addr: addr, conn: conn, ua: ua, srv: srv, client: client,
		dua: &sipgo.DialogUA{Client: client, ContactHDR: sipmsg.ContactHeader{
			Address: sipmsg.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: int(addr.Port())},
		}},
		ctx: ctx, cancel: cancel,
		reqSeen:  make(chan struct{}),
		plan:     plan,
		plans:    map[string]uasPlan{},
		calls:    map[string]*trunkCall{},
		incoming: make(chan *trunkCall, 64),
	}
	srv.OnInvite(ft.onInvite)
	srv.OnAck(ft.onAck)
	srv.OnBye(ft.onBye)
	srv.OnCancel(ft.onStray)
	srv.OnOptions(ft.onOK)
	srv.OnRegister(ft.onOK)
	srv.OnNoRoute(ft.onStray)
	ready := &readySignal{PacketConn: conn, ready: make(chan struct{})}
	ft.wg.Add(1)
	go func() {
		defer ft.wg.Done()
		_ = srv.ServeUDP(ready)
	}()
	<-ready.ready // sipgo registered the socket and reads it: requests can leave from it
	t.Cleanup(ft.close)

	return ft
}

// close ends every call's media, stops serving and waits for the trunk's
// goroutines.
func (ft *fakeTrunk) close() {
	ft.cancel()
	ft.mu.Lock()
	calls := make([]*trunkCall, 0, len(ft.calls))
	for _, c := range ft.calls {
		calls = append(calls, c)
	}
	ft.mu.Unlock()
	for _, c := range calls {
		c.media.close()
	}
	// Stop reading first, then let sipgo finish the messages it already
	// read (it handles each in its own goroutine, and an answer to one
	// after the UA closed would open a socket nobody closes), then close
	// the UA, which closes every connection its pool holds.
	_ = ft.conn.Close()
	ft.wg.Wait()
	time.Sleep(50 * time.Millisecond)
	_ = ft.ua.Close()
	for _, c := range calls {
		c.wait()
	}
}

// planFor returns the plan for an INVITE to number.
func (ft *fakeTrunk) planFor(number string) uasPlan {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if p, ok := ft.plans[number]; ok {
		return p
	}

	return ft.plan
}

// record stores a received request and wakes waiters.
func (ft *fakeTrunk) record(req *sipmsg.Request) {
	ft.mu.Lock()
	ft.requests = append(ft.requests, req.Clone())
	close(ft.reqSeen)
	ft.reqSeen = make(chan struct{})
	ft.mu.Unlock()
}

// received returns the requests of method received so far (all when method
// is empty).
func (ft *fakeTrunk) received(method sipmsg.RequestMethod) []*sipmsg.Request {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var out []*sipmsg.Request
	for _, r := range ft.requests {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}

	return out
}

// waitRequest waits until a request of method for the dialog callID has
// arrived (any dialog when callID is empty) and returns it.
func (ft *fakeTrunk) waitRequest(t *testing.T, method sipmsg.RequestMethod, callID string, timeout time.Duration) *sipmsg.Request {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ft.mu.Lock()
		seen := ft.reqSeen
		for _, r := range ft.requests {
			if r.Method == method && (callID == "" || r.CallID().Value() == callID) {
				ft.mu.Unlock()
				return r
			}
		}
		ft.mu.Unlock()
		select {
		case <-seen:
		case <-deadline.C:
			t.Fatalf("fake trunk: no %s for call %q within %v; received %s", method, callID, timeout, ft.summary())
			return nil
		}
	}
}

// summary lists the request lines received, for failure messages.
func (ft *fakeTrunk) summary() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	s := fmt.Sprintf("%d requests:", len(ft.requests))
	for _, r := range ft.requests {
		s += " [" + r.StartLine() + "]"
	}

	return s
}

// nextCall waits for the next call the gateway placed to the trunk.
func (ft *fakeTrunk) nextCall(t *testing.T, timeout time.Duration) *trunkCall {
	t.Helper()
	select {
	case c := <-ft.incoming:
		return c
	case <-time.After(timeout):
		t.Fatalf("fake trunk: no INVITE from the gateway within %v; received %s", timeout, ft.summary())
		return nil
	}
}

// addCall registers c under its Call-ID.
func (ft *fakeTrunk) addCall(c *trunkCall) {
	ft.mu.Lock()
	ft.calls[c.callID] = c
	close(ft.reqSeen) // wake waitCallTo
	ft.reqSeen = make(chan struct{})
	ft.mu.Unlock()
}

// call returns the call with Call-ID id, or nil.
func (ft *fakeTrunk) call(id string) *trunkCall {
	ft.mu.Lock()
	defer ft.mu.Unlock()

	return ft.calls[id]
}

// onAck confirms the answered dialog the ACK belongs to.
func (ft *fakeTrunk) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ft.record(req)
	if c := ft.call(req.CallID().Value()); c != nil && c.uas != nil {
		_ = c.uas.ReadAck(req, tx)
	}
}

// onBye ends the dialog the BYE belongs to (RFC 3261 section 15.1.2), or
// answers 481 when it names none.
func (ft *fakeTrunk) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ft.record(req)
	c := ft.call(req.CallID().Value())
	if c == nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	var err error
	switch {
	case c.uas != nil:
		err = c.uas.ReadBye(req, tx)
	case c.uac != nil:
		err = c.uac.ReadBye(req, tx)
	}
	if err != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.end(endByeReceived)
}

// onOK records a request and answers 200 (OPTIONS keep-alives, REGISTER).
func (ft *fakeTrunk) onOK(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ft.record(req)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	if req.Method == sipmsg.REGISTER {
		res.AppendHeader(sipmsg.NewHeader("Expires", "300"))
		if ct := req.Contact(); ct != nil {
			res.AppendHeader(sipmsg.HeaderClone(ct))
		}
	}
	_ = tx.Respond(res)
}

// onStray records a request that matches no transaction or handler (a CANCEL
// for an unknown INVITE, an unexpected method) and answers 481 or 405.
func (ft *fakeTrunk) onStray(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ft.record(req)
	code, reason := sipmsg.StatusMethodNotAllowed, "Method Not Allowed"
	if req.Method == sipmsg.CANCEL {
		code, reason = sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist"
	}
	_ = tx.Respond(sipmsg.NewResponseFromRequest(req, code, reason, nil))
}

// readySignal is the trunk's socket as handed to sipgo: its first read
// reports that sipgo has registered the socket in its connection pool, so
// that requests the trunk sends leave from its listening address.
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
