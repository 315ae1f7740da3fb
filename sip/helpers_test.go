package sip

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/telephony"
)

// testEnv is a served UA on 127.0.0.1 with its RTP port pool, torn down by t.Cleanup, which
// then asserts that every RTP port is back in the pool and no goroutine is left.
type testEnv struct {
	ua        *UA
	pool      *PortPool
	incoming  chan *IncomingCall
	addr      netip.AddrPort // the UDP listener
	serveDone chan struct{}  // closed when Serve has returned
	shutdown  func()         // cancels Serve and checks it returned; idempotent
}

// testLogger keeps the user agent's logs, shown when the test fails.
func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	logger, _ := logcapture.New(tb, logcapture.Tail(0))
	return logger
}

// uaPortPool returns a pool of 10 port pairs at a random place in 10000..19999, away from the
// ports other tests and the kernel hand out.
func uaPortPool(tb testing.TB) *PortPool {
	tb.Helper()
	t := tb
	base := 10000 + 2*rand.IntN(4990)
	pool, err := NewPortPool(netip.MustParseAddr("127.0.0.1"), base, base+19)
	if err != nil {
		t.Fatalf("NewPortPool: %v", err)
	}
	return pool
}

// startUA serves a UA built from cfg (listeners, pool and logger filled in when empty).
// Incoming calls go to env.incoming, or to handler when one is given.
func startUA(tb testing.TB, cfg Config, handler ...func(*IncomingCall)) *testEnv {
	tb.Helper()
	return startUAWith(tb, cfg, nil, handler...)
}

// startUAWith is startUA with prepare called on the UA before it serves, to change settings
// that Config does not allow (such as a Min-SE below RFC 4028's 90 s, to keep tests short).
func startUAWith(tb testing.TB, cfg Config, prepare func(*UA), handler ...func(*IncomingCall)) *testEnv {
	tb.Helper()
	t := tb
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []Listener{{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"}}
	}
	if cfg.RTPPorts == nil {
		cfg.RTPPorts = uaPortPool(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ua, err := NewUA(cfg)
	if err != nil {
		t.Fatalf("NewUA: %v", err)
	}
	if prepare != nil {
		prepare(ua)
	}
	if err := ua.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	env := &testEnv{ua: ua, pool: cfg.RTPPorts, incoming: make(chan *IncomingCall, 4), serveDone: make(chan struct{})}
	env.addr, _ = ua.ListenAddr(telephony.TransportUDP)
	ctx, cancel := context.WithCancel(context.Background())
	var serveErr error
	go func() {
		defer close(env.serveDone)
		serveErr = ua.Serve(ctx, func(ic *IncomingCall) {
			if len(handler) > 0 {
				handler[0](ic)
				return
			}
			env.incoming <- ic
		})
	}()
	select {
	case <-ua.started:
	case <-env.serveDone:
		t.Fatalf("Serve: %v", serveErr)
	}
	var once sync.Once
	env.shutdown = func() {
		once.Do(func() {
			cancel()
			select {
			case <-env.serveDone:
				if serveErr != nil {
					t.Errorf("Serve: %v", serveErr)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Serve did not return within 20 s of cancellation")
			}
		})
	}
	t.Cleanup(func() {
		env.shutdown()
		if n := env.pool.InUse(); n != 0 {
			t.Errorf("RTP ports in use after shutdown: %d, want 0", n)
		}
		goleak.VerifyNone(t,
			// sipp processes of the test are reaped by their own cleanup, which runs later.
			goleak.IgnoreAnyFunction("github.com/webtrunk/webtrunk/internal/testproc.Start.func1"),
			goleak.IgnoreAnyFunction("os/exec.(*Cmd).watchCtx"),
			goleak.IgnoreAnyFunction("os/exec.(*Cmd).writerDescriptor.func1"),
			// so is an in-process registrar serving the test.
			goleak.IgnoreAnyFunction("github.com/webtrunk/webtrunk/sip.serveRegister.func1"))
	})
	return env
}

// awaitErr returns the error an asynchronous call sends on ch, and fails the test when the call
// has not returned within 10 s; what names it.
func awaitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	return await(t, ch, what)
}

// await returns the value an asynchronous call sends on ch, and fails the test when the call
// has not returned within 10 s; what names it.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		var zero T
		return zero
	}
}

// callResult is what an asynchronous Dial or Answer returned.
type callResult struct {
	call *Call
	err  error
}

// dialAsync runs Dial in a goroutine; the channel receives its result.
func dialAsync(ctx context.Context, env *testEnv, r DialRequest) <-chan callResult {
	dialed := make(chan callResult, 1)
	go func() {
		c, err := env.ua.Dial(ctx, r)
		dialed <- callResult{c, err}
	}()
	return dialed
}

// answerAsync runs Answer in a goroutine; the channel receives its result.
func answerAsync(ctx context.Context, ic *IncomingCall) <-chan callResult {
	answered := make(chan callResult, 1)
	go func() {
		c, err := ic.Answer(ctx)
		answered <- callResult{c, err}
	}()
	return answered
}

// awaitIncoming returns the next call handed to the Serve handler; after 10 s it fails the test
// with what diagnose adds (a peer's log), when given.
func awaitIncoming(t *testing.T, env *testEnv, diagnose ...func() string) *IncomingCall {
	t.Helper()
	select {
	case ic := <-env.incoming:
		return ic
	case <-time.After(10 * time.Second):
		more := ""
		for _, d := range diagnose {
			more += "\n" + d()
		}
		t.Fatalf("no incoming call within 10 s%s", more)
		return nil
	}
}

// awaitCause waits up to 10 s for the incoming call ic to stop ringing (what says why it
// should, for the failure message, with what diagnose adds when given), and fails the test unless
// its Cause matches want.
func awaitCause(t *testing.T, ic *IncomingCall, want error, what string, diagnose ...func() string) {
	t.Helper()
	select {
	case <-ic.Done():
	case <-time.After(10 * time.Second):
		more := ""
		for _, d := range diagnose {
			more += "\n" + d()
		}
		t.Fatalf("incoming call not ended within 10 s: %s%s", what, more)
	}
	if !errors.Is(ic.Cause(), want) {
		t.Errorf("Cause() = %v, want %v", ic.Cause(), want)
	}
}

// withTimers shortens sipgo's transaction timers (package-level settings) for one test and
// restores them afterwards; it must run while no sipgo goroutine is alive, so call it first.
func withTimers(t *testing.T, t1 time.Duration) {
	t.Helper()
	old1, old2, old4 := sipmsg.T1, sipmsg.T2, sipmsg.T4
	sipmsg.SetTimers(t1, 8*t1, 10*t1)
	t.Cleanup(func() { sipmsg.SetTimers(old1, old2, old4) })
}

// toneFrames returns n 20 ms PCMU frames (160 bytes) of a sine at freq Hz, peak 8000 of 32767.
func toneFrames(freq float64, n int) [][]byte {
	tone := testaudio.NewTone(freq, 8000, 8000.0/testaudio.FullScale)
	pcm := make([]int16, 160)
	frames := make([][]byte, n)
	for i := range frames {
		tone.Fill(pcm)
		f := make([]byte, 160)
		for j, v := range pcm {
			f[j] = g711.EncodeUlawFrame(v)
		}
		frames[i] = f
	}
	return frames
}

// toneFile writes n seconds of a PCMU sine as a headerless file (sipp's rtp_stream format).
func toneFile(t *testing.T, path string, freq float64, seconds int) {
	t.Helper()
	var b []byte
	for _, f := range toneFrames(freq, seconds*50) {
		b = append(b, f...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sendTone writes frames as RTP (PT 0) on c, one every 20 ms, until done or ctx ends.
func sendTone(ctx context.Context, c *RTPConn, frames [][]byte) error {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1234abcd}}
	buf := make([]byte, 1500)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, f := range frames {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		pkt.Payload = f
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			return err
		}
		if _, err := c.WriteRTP(buf[:n]); err != nil && !errors.Is(err, ErrNoRemote) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// receiveAudio reads PCMU RTP from c until it has decoded want samples and returns them: the
// test judges a number of packets, however late a busy machine delivers them. It gives up with
// what it has after ear.WaitTimeout.
func receiveAudio(c *RTPConn, want int) []int16 {
	var out []int16
	buf := make([]byte, 1500)
	deadline := time.Now().Add(ear.WaitTimeout)
	var pkt rtp.Packet
	for time.Now().Before(deadline) && len(out) < want {
		_ = c.SetReadDeadline(deadline)
		n, err := c.ReadRTP(buf)
		if err != nil {
			break
		}
		if pkt.Unmarshal(buf[:n]) != nil || pkt.PayloadType != 0 {
			continue
		}
		for _, b := range pkt.Payload {
			out = append(out, g711.DecodeUlawFrame(b))
		}
	}
	return out
}

// echoTone sends a freq Hz tone on c (2 s of it) to a far end that echoes RTP, listens until it
// has heard a second of the echo, and checks that the echo carries the tone.
func echoTone(t *testing.T, c *RTPConn, freq float64) {
	t.Helper()
	sendCtx, stop := context.WithCancel(t.Context())
	defer stop()
	go func() { _ = sendTone(sendCtx, c, toneFrames(freq, 100)) }()
	assertTone(t, receiveAudio(c, 8000), freq)
}

// assertTone checks that samples carry freq and not other.
func assertTone(t *testing.T, samples []int16, freq float64) {
	t.Helper()
	if len(samples) < 1600 {
		t.Fatalf("received %d samples, want at least 1600 (200 ms)", len(samples))
	}
	// Skip the first frames (start-up) and look at a steady window.
	win := samples[len(samples)/4:]
	got := testaudio.Share(win, 8000, freq, testaudio.Rectangular)
	off := testaudio.Share(win, 8000, freq*1.37, testaudio.Rectangular)
	if got < 0.5 || off > 0.1 {
		t.Fatalf("tone at %.0f Hz: energy share %.2f (want >= 0.5), at %.0f Hz %.2f (want < 0.1)", freq, got, freq*1.37, off)
	}
}

func TestGoertzelDetectsTone(t *testing.T) {
	decode := func(frames [][]byte) []int16 {
		var s []int16
		for _, f := range frames {
			for _, b := range f {
				s = append(s, g711.DecodeUlawFrame(b))
			}
		}
		return s
	}
	tone := decode(toneFrames(1000, 20))
	if r := testaudio.Share(tone, 8000, 1000, testaudio.Rectangular); r < 0.8 {
		t.Errorf("1000 Hz tone at 1000 Hz: %.2f, want >= 0.8", r)
	}
	if r := testaudio.Share(tone, 8000, 1370, testaudio.Rectangular); r > 0.1 {
		t.Errorf("1000 Hz tone at 1370 Hz: %.2f, want < 0.1", r)
	}
	if r := testaudio.Share(make([]int16, 1000), 8000, 1000, testaudio.Rectangular); r != 0 {
		t.Errorf("silence: %.2f, want 0", r)
	}
}
