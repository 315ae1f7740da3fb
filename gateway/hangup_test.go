package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"

	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// waitBYE waits for the trunk's call to end by a BYE from the gateway.
func waitBYE(t *testing.T, tc *trunkCall) {
	t.Helper()
	select {
	case <-tc.call.Done():
		var he *sip.HangupError
		if !errors.As(tc.call.Err(), &he) || he.By != sip.Remote {
			t.Errorf("trunk call ended with %v, want a BYE from the gateway", tc.call.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the trunk got no BYE")
	}
}

func TestWebSocketCloseHangsUpTrunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b := newFakeBrowser(t, e)
	b.login("alice")
	b.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
	_ = b.ws.Close(websocket.StatusNormalClosure, "")
	waitBYE(t, tc)
}

func TestMediaTimeoutHangsUpBothLegs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b := newFakeBrowser(t, e)
	b.login("alice")
	b.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
	waitAudio(t, tc.ear, secondOfAudio)
	// The trunk goes silent: its media stops, its signaling stays.
	close(tc.stop)
	h := expect[signaling.HangupEvent](t, b)
	if h.Reason != signaling.ReasonMediaTimeout {
		t.Fatalf("hangup %+v, want media_timeout", h)
	}
	waitBYE(t, tc)
}

func TestInboundRingTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{ringTimeout: "5s"})
	b := newFakeBrowser(t, e)
	b.login("alice")
	_, errs := e.trunk.dial(context.Background(), "+15550100")
	expect[signaling.Incoming](t, b)
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRingTimeout {
		t.Fatalf("hangup %+v, want ring_timeout", h)
	}
	var se *sip.StatusError
	if err := <-errs; !errors.As(err, &se) || se.Code != 480 {
		t.Errorf("trunk dial ended with %v, want 480", err)
	}
}

func TestICEFailureEndsCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	e.gw.iceTimeout.Store(int64(time.Second))
	e.trunk.setMode(trunkRingForever)
	b := newFakeBrowser(t, e)
	b.login("alice")
	// The browser never applies the answer, so ICE never completes.
	_, sdp := b.offer("c1")
	b.send(signaling.Dial{ID: "c1", To: "+15550123", SDP: sdp})
	expect[signaling.Answer](t, b)
	if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonICEFailed {
		t.Fatalf("hangup %+v, want ice_failed", h)
	}
}

func TestBadInputLeavesCallAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b := newFakeBrowser(t, e)
	b.login("alice")
	c := b.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
	waitAudio(t, c.ear, secondOfAudio/2)

	_, offer := b.offer("v1")
	noAudio := strings.ReplaceAll(offer, "m=audio", "m=video")
	acceptOutbound, err := signaling.Marshal(signaling.Accept{CallID: "c1", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		code signaling.Code
	}{
		{"malformed json", []byte(`{"type":"dial",`), signaling.CodeBadRequest},
		{"unknown type", []byte(`{"type":"teleport"}`), signaling.CodeUnknownType},
		{"huge frame", append(append([]byte(`{"type":"ping","ref":"`), bytes.Repeat([]byte("a"), signaling.MaxFrameSize)...), `"}`...), signaling.CodeBadRequest},
		{"accept of an outbound call", acceptOutbound, signaling.CodeOutOfOrder},
		{"dtmf of unknown call", []byte(`{"type":"dtmf","call_id":"nope","digits":"1"}`), signaling.CodeNotFound},
		{"second auth", []byte(`{"type":"auth","version":1,"user":"alice","password":"x"}`), signaling.CodeOutOfOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.sendRaw(tt.data)
			if r := expect[signaling.ErrorReply](t, b); r.Code != tt.code {
				t.Fatalf("reply %+v, want %s", r, tt.code)
			}
		})
	}
	t.Run("offer without audio", func(t *testing.T) {
		b.send(signaling.Dial{ID: "v1", To: "+15550123", SDP: noAudio})
		if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
			t.Fatalf("reply %+v, want no_common_codec", r)
		}
	})
	before := len(c.ear.heard())
	beforeTrunk := len(tc.ear.heard())
	waitAudio(t, c.ear, before+secondOfAudio/2)
	waitAudio(t, tc.ear, beforeTrunk+secondOfAudio/2)
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	get := func(path string, header http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+e.http+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)

		return res.StatusCode, string(body)
	}
	if code, body := get("/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if code, body := get("/", nil); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<!doctype html") {
		t.Errorf("/ = %d, want the softphone page", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, "ws://"+e.http+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, response %v", err, res)
	}
	if res != nil {
		_ = res.Body.Close()
	}

	// A denied dial shows in the metrics.
	b := newFakeBrowser(t, e)
	b.login("alice")
	_, sdp := b.offer("x")
	b.send(signaling.Dial{ID: "x", To: "+15559990000", SDP: sdp})
	expect[signaling.ErrorReply](t, b)
	_, metrics := get("/metrics", nil)
	for _, want := range []string{
		`webtrunk_dials_denied_total{reason="dial_rules"} 1`,
		`webtrunk_websocket_sessions 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// testutilGauge reads the calls-active gauge of a direction.
func testutilGauge(t *testing.T, e *env, dir string) float64 {
	t.Helper()

	var m dto.Metric
	if err := e.gw.Metrics().CallsActive.WithLabelValues(dir).Write(&m); err != nil {
		t.Fatal(err)
	}

	return m.GetGauge().GetValue()
}

func TestReadinessFollowsRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{register: true})
	res, err := http.Get("http://" + e.http + "/readyz") //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "not registered") {
		t.Errorf("/readyz = %d %q, want 503 while the trunk is not registered", res.StatusCode, body)
	}
	var m dto.Metric
	if err := e.gw.Metrics().Registrations.WithLabelValues("fake").Write(&m); err != nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("registration gauge %v (%v), want 0", m.GetGauge().GetValue(), err)
	}
	// A dial through an unregistered trunk never reaches it.
	b := newFakeBrowser(t, e)
	b.login("alice")
	_, sdp := b.offer("c1")
	b.send(signaling.Dial{ID: "c1", To: "+15550123", SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeTrunkUnavailable {
		t.Errorf("dial: %+v, want trunk_unavailable", r)
	}
}

func TestCloseReleasesSockets(t *testing.T) {
	t.Parallel()
	logger, _ := testLogger(t)
	cfg := parseTestConfig(t, testConfig{})
	gw, err := New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	httpAddr := gw.HTTPAddr().String()
	sipAddr, ok := gw.SIPAddr("udp")
	if !ok {
		t.Fatal("no SIP address after Listen")
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := gw.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", httpAddr)
	if err != nil {
		t.Fatalf("HTTP port still taken: %v", err)
	}
	_ = ln.Close()
	pc, err := lc.ListenPacket(context.Background(), "udp", sipAddr.String())
	if err != nil {
		t.Fatalf("SIP port still taken: %v", err)
	}
	_ = pc.Close()
}

func TestOutboundRingTimeoutCancels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{dialRing: "5s"})
	e.trunk.setMode(trunkRingForever)
	b := newFakeBrowser(t, e)
	b.login("alice")
	b.dial("c1", "+15550123")
	expectProgress[signaling.Ringing](t, b)
	if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRingTimeout {
		t.Fatalf("hangup %+v, want ring_timeout", h)
	}
	ic := <-e.trunk.ringing
	select {
	case <-ic.Done():
		if !errors.Is(ic.Cause(), sip.ErrCanceled) {
			t.Errorf("the trunk's INVITE ended with %v, want CANCEL", ic.Cause())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the trunk got no CANCEL")
	}
}
