package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/internal/testaudio"
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

// freeUDPPort returns a UDP port that was free on 127.0.0.1 a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	c, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	return c.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDP socket
}

// env is a running gateway and a fake trunk wired to each other on
// loopback.
type env struct {
	t     *testing.T
	gw    *Gateway
	cfg   *config.Config
	trunk *fakeTrunk
	http  string
	logs  *lockedBuffer
	stop  context.CancelFunc
	done  chan error
}

// newEnv starts a gateway and a fake trunk; both stop at cleanup, and
// the gateway's Run must return.
func newEnv(t *testing.T, tc testConfig) *env {
	t.Helper()
	gwPort := freeUDPPort(t)
	trunk := newFakeTrunk(t, gwPort)
	t.Cleanup(trunk.close) // after the gateway's shutdown
	e := startGateway(t, tc, gwPort, int(trunk.addr.Port()))
	e.trunk = trunk

	return e
}

// startGateway starts a gateway listening for SIP on 127.0.0.1:gwPort
// whose trunk "fake" is at 127.0.0.1:trunkPort; it stops at cleanup, and
// its Run must return.
func startGateway(t *testing.T, tc testConfig, gwPort, trunkPort int) *env {
	t.Helper()
	logger, logs := testLogger(t)
	tc.sipListen = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(gwPort)).String()
	tc.trunkPort = trunkPort
	cfg := parseTestConfig(t, tc)
	gw, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, gw: gw, cfg: cfg, http: gw.HTTPAddr().String(), logs: logs, stop: cancel, done: make(chan error, 1)}
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
// records what it hears, and can call the gateway.
type fakeTrunk struct {
	t      *testing.T
	ua     *sip.UA
	addr   netip.AddrPort
	cancel context.CancelFunc
	done   chan struct{}

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
	mu     sync.Mutex
	pcm    []int16
	digits []rune
	stop   chan struct{}
	wg     sync.WaitGroup
	sendEv chan uint8
}

func newFakeTrunk(t *testing.T, gwPort int) *fakeTrunk {
	t.Helper()
	pool, err := sip.NewPortPool(netip.MustParseAddr("127.0.0.1"), 32000, 32999)
	if err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	ua, err := sip.NewUA(sip.Config{
		Listeners:            []sip.Listener{{Transport: telephony.TransportUDP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()}},
		RTPPorts:             pool,
		RejectUnknownSources: true,
		SessionExpires:       -1,
		Trunks: []sip.Trunk{{
			Name: "gw", Host: "127.0.0.1", Port: gwPort,
			AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		}},
	})
	if err != nil {
		t.Fatalf("fake trunk: %v", err)
	}
	if err := ua.Listen(); err != nil {
		t.Fatalf("fake trunk listen: %v", err)
	}
	addr, _ := ua.ListenAddr(telephony.TransportUDP)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeTrunk{t: t, ua: ua, addr: addr, cancel: cancel, done: make(chan struct{}), calls: make(chan *trunkCall, 32), ringing: make(chan *sip.IncomingCall, 32)}
	go func() {
		defer close(f.done)
		_ = ua.Serve(ctx, f.incoming)
	}()

	return f
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
		call, err := f.ua.Dial(ctx, sip.DialRequest{Trunk: "gw", To: did, From: "+15551230000", DisplayName: "Bob"})
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
	tc := &trunkCall{call: call, stop: make(chan struct{}), sendEv: make(chan uint8, 4)}
	m := call.Media()
	conn := call.RTP()
	tc.wg.Add(2)
	go func() { // sender
		defer tc.wg.Done()
		tone := testaudio.NewTone(1000, 8000, toneAmp)
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
			tc.mu.Lock()
			switch p.PayloadType {
			case m.Codec.PayloadType:
				var k int
				if m.Codec.Name == telephony.PCMA.Name {
					k = transcode.DecodePCMA(tmp[:], p.Payload)
				} else {
					k = transcode.DecodePCMU(tmp[:], p.Payload)
				}
				tc.pcm = append(tc.pcm, tmp[:k]...)
			case m.TelephoneEventPT:
				var ev transcode.Event
				if ev.Unmarshal(p.Payload) == nil && ev.End && p.Timestamp != lastEv {
					lastEv = p.Timestamp
					if r, ok := transcode.DigitForEvent(ev.Code); ok {
						tc.digits = append(tc.digits, r)
					}
				}
			}
			tc.mu.Unlock()
		}
	}()

	return tc
}

// heard returns a copy of the audio the trunk received so far.
func (tc *trunkCall) heard() []int16 {
	tc.mu.Lock()
	defer tc.mu.Unlock()

	return append([]int16(nil), tc.pcm...)
}

// heardDigits returns the DTMF digits the trunk received so far.
func (tc *trunkCall) heardDigits() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()

	return string(tc.digits)
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
	<-f.done
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
