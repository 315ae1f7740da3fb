package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testconfig"
	"github.com/webtrunk/webtrunk/telephony"
)

// Accounts and numbers of the test environment. Numbers are in the
// fictional +1555 range; +1900 is premium rate and denied, international
// numbers are not allowed at all.
const (
	userAlice    = "alice" // one human with several tabs
	userLoad     = "load"  // many concurrent calls
	testPassword = testconfig.Password
	jwtKey       = "integration-test-hmac-key-0123456789abcdef"
	didAlice     = "+15550100"
	didNobody    = "+15550199" // routed to a user who is never online
	numberOK     = "+15551230001"
	numberDenied = "+19005550100"
	numberIntl   = "+442079460000"
	trunkUser    = "webtrunk"
	trunkPass    = "trunk-secret"
)

// envOptions are the knobs of one environment; the zero value is a gateway
// with long timers and no trunk authentication.
type envOptions struct {
	ringTimeout  time.Duration  // calls.ring_timeout and the routes' (min 5s)
	mediaTimeout time.Duration  // calls.media_timeout (min 5s)
	grace        time.Duration  // shutdown.grace_period
	trunkPlan    faketrunk.Plan // how the fake trunk answers by default
	// maxConcurrent is calls.max_concurrent, the gateway-wide call
	// limit; 0 leaves it unlimited.
	maxConcurrent int
	// resumeWindow is calls.resume_window when set.
	resumeWindow time.Duration
}

// env is one in-process test environment: the real gateway on 127.0.0.1
// ephemeral ports, a fake trunk it is configured to use, and helpers that
// open fake browsers against it.
type env struct {
	t       *testing.T
	gw      *gateway.Gateway
	cfg     *config.Config
	trunk   *faketrunk.Trunk
	httpURL string // http://127.0.0.1:port
	sipAddr netip.AddrPort
	rtpMin  int // the gateway's trunk-side RTP port range
	rtpMax  int
	webrtc  netip.AddrPort // the gateway's one WebRTC UDP port
	logs    *logcapture.Capture

	cancel  context.CancelFunc
	runDone chan error
	stopped atomic.Bool
}

// newEnv writes a configuration for the options, starts the real gateway and
// the fake trunk, and registers their teardown with t.Cleanup: the gateway's
// context is cancelled, Run must return within the grace period plus a
// margin, and every port the gateway used must be free again.
func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	trunk := faketrunk.New(t, faketrunk.WithLogger(logger.With("component", "fake-trunk")), faketrunk.WithPlan(opts.trunkPlan))
	// The trunk is torn down after the gateway (cleanups run last-in
	// first-out).
	e := startGateway(t, renderConfig(trunk.Addr().Port(), opts), logger.With("component", "gateway"), logs)
	e.trunk = trunk

	return e
}

// startGateway starts the real gateway on c with a range of free RTP ports
// filled in, logging to logger (whose lines logs holds). It is stopped by
// t.Cleanup, which then checks that every port it used is free again.
func startGateway(t *testing.T, c testconfig.Gateway, logger *slog.Logger, logs *logcapture.Capture) *env {
	t.Helper()
	e := &env{t: t, logs: logs}
	e.rtpMin, e.rtpMax = reserveRTPRange(t)
	c.RTPMin, c.RTPMax = e.rtpMin, e.rtpMax
	cfg := c.Parse(t)
	e.cfg = cfg
	gw, err := gateway.New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("gateway.Listen: %v", err)
	}
	e.gw = gw
	e.httpURL = "http://" + gw.HTTPAddr().String()
	t.Cleanup(func() { _ = gw.Close() }) // releases the sockets if Run never started
	sipAddr, ok := gw.SIPAddr(telephony.TransportUDP)
	if !ok || sipAddr.Port() == 0 {
		t.Fatalf("gateway SIP UDP address after Listen: %v, %v", sipAddr, ok)
	}
	e.sipAddr = sipAddr
	e.webrtc = gw.WebRTCAddr()
	if e.webrtc.Port() == 0 {
		t.Fatalf("gateway WebRTC address after Listen: %v", e.webrtc)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.runDone = make(chan error, 1)
	go func() { e.runDone <- gw.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })

	return e
}

// stop cancels the gateway's context and waits for Run to return; then it
// asserts that the gateway released its RTP ports and its WebRTC port.
// Calling it again does nothing.
func (e *env) stop(t *testing.T) {
	t.Helper()
	if !e.stopped.CompareAndSwap(false, true) {
		return
	}
	e.cancel()
	limit := e.cfg.Shutdown.GracePeriod + 15*time.Second
	select {
	case err := <-e.runDone:
		if err != nil {
			t.Errorf("gateway Run returned %v", err)
		}
	case <-time.After(limit):
		t.Fatalf("gateway Run did not return within %v of cancellation", limit)
	}
	assertPortsFree(t, e.rtpMin, e.rtpMax, e.webrtc)
	if err := portsFree(int(e.sipAddr.Port()), int(e.sipAddr.Port())); err != nil {
		t.Errorf("after shutdown, the SIP port is still bound: %v", err)
	}
	var lc net.ListenConfig
	if ln, err := lc.Listen(context.Background(), "tcp4", strings.TrimPrefix(e.httpURL, "http://")); err != nil {
		t.Errorf("after shutdown, the HTTP port is still bound: %v", err)
	} else {
		_ = ln.Close()
	}
}

// wsURL is the gateway's signaling endpoint.
func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.httpURL, "http") + "/ws" }

// token returns an HS256 JWT for user expiring after ttl (negative: already
// expired), signed with key.
func token(t *testing.T, key, user string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}

	return s
}

// renderConfig returns the gateway configuration of opts with its trunk at
// 127.0.0.1:trunkPort: Alice (four calls at most) with didAlice routed to
// her, the load user without a limit with didNobody, "+1*" but "+1900*"
// allowed and sent to the trunk.
func renderConfig(trunkPort uint16, opts envOptions) testconfig.Gateway {
	ring, media := opts.ringTimeout, opts.mediaTimeout
	if ring == 0 {
		ring = 60 * time.Second
	}
	if media == 0 {
		media = 30 * time.Second
	}
	aliceCalls, unlimited := 4, 0
	c := newGatewayConfig("fake", trunkPort, testconfig.User{ID: userAlice, DisplayName: "Alice", MaxCalls: &aliceCalls})
	c.JWTKey = jwtKey
	c.Users = append(c.Users, testconfig.User{ID: userLoad, MaxCalls: &unlimited})
	c.Routes = append(c.Routes, testconfig.Route{DID: didNobody, User: userLoad})
	c.Calls = testconfig.Calls{RingTimeout: ring.String(), MediaTimeout: media.String(), MaxConcurrent: opts.maxConcurrent}
	if opts.resumeWindow != 0 {
		c.Calls.ResumeWindow = opts.resumeWindow.String()
	}
	c.Grace = opts.grace.String()
	if opts.trunkPlan.Challenge != 0 {
		c.Trunk.User, c.Trunk.Password = trunkUser, trunkPass
	}

	return c
}

// newGatewayConfig is the configuration every gateway of these tests has:
// trunk name on 127.0.0.1:trunkPort, user alice with didAlice routed to
// her, "+1*" but "+1900*" allowed and sent to the trunk, debug logs.
func newGatewayConfig(trunk string, trunkPort uint16, alice testconfig.User) testconfig.Gateway {
	return testconfig.Gateway{
		Trunk:    testconfig.Trunk{Name: trunk, Port: trunkPort, CallerID: "+15550100"},
		Users:    []testconfig.User{alice},
		Allow:    []string{"+1*"},
		Deny:     []string{"+1900*"},
		Outbound: []string{"+1*"},
		Routes:   []testconfig.Route{{DID: didAlice, User: alice.ID}},
		LogLevel: "debug",
	}
}

// rtpBlock is the size of each environment's trunk-side RTP port range: 32
// concurrent calls' RTP and RTCP ports.
const rtpBlock = 64

// nextRTPBlock hands out port ranges below the kernel's ephemeral range
// (32768 and up on Linux), so that no other socket of the tests lands in it.
var nextRTPBlock atomic.Int32

// reserveRTPRange returns a range of rtpBlock ports that are all free now.
func reserveRTPRange(t *testing.T) (int, int) {
	t.Helper()
	for {
		lo := 24000 + int(nextRTPBlock.Add(1)-1)*rtpBlock
		if lo+rtpBlock > 32768 {
			t.Fatal("no free RTP port range left below 32768")
		}
		if portsFree(lo, lo+rtpBlock-1) == nil {
			return lo, lo + rtpBlock - 1
		}
	}
}

// portsFree binds and releases every UDP port from lo to hi on 127.0.0.1 and
// returns the first that cannot be bound.
func portsFree(lo, hi int) error {
	for p := lo; p <= hi; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			return fmt.Errorf("udp port %d: %w", p, err)
		}
		_ = c.Close()
	}

	return nil
}

// assertPortsFree fails the test when a port the gateway used is still
// bound after Run returned: an RTP socket or the WebRTC mux outlived it.
func assertPortsFree(t *testing.T, rtpMin, rtpMax int, webrtcPort netip.AddrPort) {
	t.Helper()
	if err := portsFree(rtpMin, rtpMax); err != nil {
		t.Errorf("after shutdown, a trunk RTP port is still bound: %v", err)
	}
	if err := portsFree(int(webrtcPort.Port()), int(webrtcPort.Port())); err != nil {
		t.Errorf("after shutdown, the WebRTC port is still bound: %v", err)
	}
}
