package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// lockedBuffer is a log sink shared by goroutines; its content is printed
// when a test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.b.String()
}

// testLogger returns a debug logger whose lines are shown if t fails.
func testLogger(t *testing.T) (*slog.Logger, *lockedBuffer) {
	t.Helper()
	w := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", w.String())
		}
	})

	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), w
}

// env is a running gateway and a fake trunk wired to each other on
// loopback.
type env struct {
	t     *testing.T
	gw    *Gateway
	cfg   *config.Config
	trunk *fakeTrunk
	http  string
	sip   netip.AddrPort // the gateway's SIP UDP address
	logs  *lockedBuffer
	stop  context.CancelFunc
	done  chan error
}

// newEnv starts a gateway and a fake trunk; both stop at cleanup, and
// the gateway's Run must return. Every socket is bound on port 0 before
// its address is handed on: the fake trunk's first, then the gateway's,
// then the fake trunk's user agent that calls the gateway.
func newEnv(t *testing.T, tc testConfig) *env {
	t.Helper()
	trunk := newFakeTrunk(t)
	t.Cleanup(trunk.close) // after the gateway's shutdown
	e := startGateway(t, tc, int(trunk.addr.Port()))
	trunk.connect(e.sip)
	e.trunk = trunk

	return e
}

// startGateway starts a gateway listening for SIP on a port of its own
// choice on 127.0.0.1 (e.sip) whose trunk "fake" is at
// 127.0.0.1:trunkPort; it stops at cleanup, and its Run must return.
func startGateway(t *testing.T, tc testConfig, trunkPort int) *env {
	t.Helper()
	logger, logs := testLogger(t)
	tc.trunkPort = trunkPort
	cfg := parseTestConfig(t, tc)
	gw, err := New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	sipAddr, ok := gw.SIPAddr(telephony.TransportUDP)
	if !ok {
		t.Fatal("no SIP address after Listen")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, gw: gw, cfg: cfg, http: gw.HTTPAddr().String(), sip: sipAddr, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { e.done <- gw.Run(ctx) }()
	t.Cleanup(e.shutdown)

	return e
}

// shutdown stops the gateway and waits for Run.
func (e *env) shutdown() {
	e.t.Helper()
	e.stop()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(20 * time.Second):
		e.t.Fatal("Run did not return after shutdown")
	}
}

// trunkMode is how the fake trunk answers INVITEs from the gateway.
type trunkMode int

const (
	trunkAnswer trunkMode = iota
	trunkBusy
	trunkRingForever
)

// fakeTrunk is a SIP endpoint built on the project's own user agent: it
// answers the gateway's INVITEs (or refuses them), plays a 1 kHz tone and
// records what it hears, and can call the gateway. One user agent listens
// for the gateway's calls, on a port bound before the gateway is
// configured with it; a second one, made by connect once the gateway has
// bound its own port, places calls to the gateway (the gateway knows its
// trunk by source address, not port).
type fakeTrunk struct {
	t       *testing.T
	pool    *sip.PortPool
	ua      *sip.UA
	addr    netip.AddrPort
	dialer  *sip.UA
	ctx     context.Context //nolint:containedctx // the user agents' lifetime
	cancel  context.CancelFunc
	serving sync.WaitGroup

	mu      sync.Mutex
	mode    trunkMode
	invites int
	calls   chan *trunkCall
	ringing chan *sip.IncomingCall
	wg      sync.WaitGroup
}

// trunkCall is one call on the fake trunk with its media.
type trunkCall struct {
	call   *sip.Call
	ear    *ear
	stop   chan struct{}
	wg     sync.WaitGroup
	sendEv chan uint8
}

// newFakeTrunk starts the fake trunk's listening user agent on a port of
// its own choice on 127.0.0.1 (f.addr).
func newFakeTrunk(t *testing.T) *fakeTrunk {
	t.Helper()
	pool, err := sip.NewPortPool(netip.MustParseAddr("127.0.0.1"), 32000, 32999)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeTrunk{t: t, pool: pool, ctx: ctx, cancel: cancel, calls: make(chan *trunkCall, 32), ringing: make(chan *sip.IncomingCall, 32)}
	// This user agent never calls the gateway: its trunk's port is unused.
	f.ua = f.startUA(netip.AddrPort{}, f.incoming)
	f.addr, _ = f.ua.ListenAddr(telephony.TransportUDP)

	return f
}

// connect starts the user agent that calls the gateway at gw.
func (f *fakeTrunk) connect(gw netip.AddrPort) {
	f.t.Helper()
	f.dialer = f.startUA(gw, func(ic *sip.IncomingCall) { _ = ic.Reject(403, "Forbidden") })
}

// startUA starts a user agent on 127.0.0.1, port 0, whose one trunk "gw"
// is the gateway at gw, serving inbound calls with handle until the fake
// trunk closes.
func (f *fakeTrunk) startUA(gw netip.AddrPort, handle func(*sip.IncomingCall)) *sip.UA {
	f.t.Helper()
	ua, err := sip.NewUA(sip.Config{
		Listeners:            []sip.Listener{{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"}},
		RTPPorts:             f.pool,
		RejectUnknownSources: true,
		SessionExpires:       -1,
		Trunks: []sip.Trunk{{
			Name: "gw", Host: "127.0.0.1", Port: int(gw.Port()),
			AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		}},
	})
	if err != nil {
		f.t.Fatalf("fake trunk: %v", err)
	}
	if err := ua.Listen(); err != nil {
		f.t.Fatalf("fake trunk listen: %v", err)
	}
	f.serving.Add(1)
	go func() {
		defer f.serving.Done()
		_ = ua.Serve(f.ctx, handle)
	}()

	return ua
}

func (f *fakeTrunk) setMode(m trunkMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

// inviteCount is how many INVITEs the gateway sent.
func (f *fakeTrunk) inviteCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()

	return f.invites
}

// incoming handles an INVITE from the gateway.
func (f *fakeTrunk) incoming(ic *sip.IncomingCall) {
	f.mu.Lock()
	f.invites++
	mode := f.mode
	f.mu.Unlock()
	switch mode {
	case trunkBusy:
		_ = ic.Reject(486, "Busy Here")
	case trunkRingForever:
		_ = ic.Ring()
		f.ringing <- ic
	default:
		_ = ic.Ring()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			call, err := ic.Answer(context.Background())
			if err != nil {
				return
			}
			f.calls <- f.startMedia(call)
		}()
	}
}

// dial calls the gateway's DID from the fake trunk; the call is delivered
// on the returned channel (nil when it failed, with the error).
func (f *fakeTrunk) dial(ctx context.Context, did string) (<-chan *trunkCall, <-chan error) {
	out := make(chan *trunkCall, 1)
	errc := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		call, err := f.dialer.Dial(ctx, sip.DialRequest{Trunk: "gw", To: did, From: "+15551230000", DisplayName: "Bob"})
		if err != nil {
			errc <- err

			return
		}
		out <- f.startMedia(call)
	}()

	return out, errc
}

// startMedia plays a 1 kHz tone to the gateway and records what it hears.
func (f *fakeTrunk) startMedia(call *sip.Call) *trunkCall {
	tc := &trunkCall{call: call, ear: newEar(), stop: make(chan struct{}), sendEv: make(chan uint8, 4)}
	m := call.Media()
	conn := call.RTP()
	tc.wg.Add(2)
	go func() { // sender
		defer tc.wg.Done()
		tone := testaudio.NewTone(1000, 8000, testcodec.ToneAmp)
		var pcm [160]int16
		var payload [172]byte
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		h := rtp.Header{Version: 2, PayloadType: m.Codec.PayloadType, SSRC: 0xfeed}
		for i := 0; ; i++ {
			select {
			case <-tc.stop:
				return
			case <-call.Done():
				return
			case code := <-tc.sendEv:
				ev := rtp.Header{Version: 2, PayloadType: m.TelephoneEventPT, SSRC: 0xfeed, Timestamp: h.Timestamp}
				for j := range 6 {
					h.SequenceNumber++
					ev.SequenceNumber, ev.Marker = h.SequenceNumber, j == 0
					n, _ := ev.MarshalTo(payload[:])
					_, _ = transcode.Event{Code: code, End: j >= 3, Duration: uint16(160 * min(j+1, 3))}.MarshalTo(payload[n:])
					_, _ = conn.WriteRTP(payload[:n+4])
				}
			case <-tick.C:
				tone.Fill(pcm[:])
				h.SequenceNumber++
				h.Timestamp += 160
				n, _ := h.MarshalTo(payload[:])
				if m.Codec.Name == telephony.PCMA.Name {
					transcode.EncodePCMA(payload[n:], pcm[:])
				} else {
					transcode.EncodePCMU(payload[n:], pcm[:])
				}
				_, _ = conn.WriteRTP(payload[:n+160])
			}
		}
	}()
	go func() { // receiver
		defer tc.wg.Done()
		defer tc.ear.end()
		buf := make([]byte, 1500)
		var p rtp.Packet
		var tmp [1500]int16
		var lastEv uint32
		for {
			n, err := conn.ReadRTP(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			switch p.PayloadType {
			case m.Codec.PayloadType:
				var k int
				if m.Codec.Name == telephony.PCMA.Name {
					k = transcode.DecodePCMA(tmp[:], p.Payload)
				} else {
					k = transcode.DecodePCMU(tmp[:], p.Payload)
				}
				tc.ear.hear(tmp[:k])
			case m.TelephoneEventPT:
				var ev transcode.Event
				if ev.Unmarshal(p.Payload) == nil && ev.End && p.Timestamp != lastEv {
					lastEv = p.Timestamp
					if r, ok := transcode.DigitForEvent(ev.Code); ok {
						tc.ear.hearDigit(r)
					}
				}
			}
		}
	}()

	return tc
}

// hangup sends BYE and stops the media.
func (tc *trunkCall) hangup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tc.call.Hangup(ctx)
	tc.close()
}

func (tc *trunkCall) close() {
	select {
	case <-tc.stop:
	default:
		close(tc.stop)
	}
	_ = tc.call.RTP().Close()
	tc.wg.Wait()
}

// nextCall waits for the trunk to answer a call from the gateway.
func (f *fakeTrunk) nextCall(t *testing.T) *trunkCall {
	t.Helper()
	select {
	case c := <-f.calls:
		t.Cleanup(c.close)

		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the trunk received no call")

		return nil
	}
}

func (f *fakeTrunk) close() {
	f.cancel()
	f.serving.Wait()
	f.wg.Wait()
	for {
		select {
		case c := <-f.calls:
			c.close()
		default:
			return
		}
	}
}
