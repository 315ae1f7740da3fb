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
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
)

func TestWebSocketCloseHangsUpTrunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, _, tc := callUp(t, e)
	b.CloseWith(websocket.StatusNormalClosure)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
}

func TestMediaTimeoutHangsUpBothLegs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, _, tc := callUp(t, e)
	tc.Heard().WaitSamples(t, secondOfAudio)
	// The trunk goes silent: its media stops, its signaling stays.
	tc.Media().SetMuted(true)
	h := expect[signaling.HangupEvent](t, b)
	if h.Reason != signaling.ReasonMediaTimeout {
		t.Fatalf("hangup %+v, want media_timeout", h)
	}
	tc.WaitEnded(t, faketrunk.EndByeReceived)
}

func TestInboundRingTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{ringTimeout: "5s"})
	b := login(t, e, "alice")
	tc := trunkDial(t, e, "+15550100")
	expect[signaling.Incoming](t, b)
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRingTimeout {
		t.Fatalf("hangup %+v, want ring_timeout", h)
	}
	tc.WaitEnded(t, faketrunk.EndRejected)
	if code := tc.FinalCode(); code != 480 {
		t.Errorf("trunk call ended with %d, want 480", code)
	}
}

func TestICEFailureEndsCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	e.gw.iceTimeout.Store(int64(time.Second))
	e.trunk.SetPlan(faketrunk.Plan{RingForever: true})
	b := login(t, e, "alice")
	// The browser never applies the answer, so ICE never completes.
	sdp := offer(t)
	b.Send(t, signaling.Dial{ID: "c1", To: "+15550123", SDP: sdp})
	expect[signaling.Answer](t, b)
	if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonICEFailed {
		t.Fatalf("hangup %+v, want ice_failed", h)
	}
}

func TestBadInputLeavesCallAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, c, tc := callUp(t, e)
	c.Heard().WaitSamples(t, secondOfAudio/2)

	sdp := offer(t)
	noAudio := strings.ReplaceAll(sdp, "m=audio", "m=video")
	acceptOutbound, err := signaling.Marshal(signaling.Accept{CallID: "c1", SDP: sdp})
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
			b.SendRaw(t, tt.data)
			if r := expect[signaling.ErrorReply](t, b); r.Code != tt.code {
				t.Fatalf("reply %+v, want %s", r, tt.code)
			}
		})
	}
	t.Run("offer without audio", func(t *testing.T) {
		b.Send(t, signaling.Dial{ID: "v1", To: "+15550123", SDP: noAudio})
		if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
			t.Fatalf("reply %+v, want no_common_codec", r)
		}
	})
	before := c.Heard().Len()
	beforeTrunk := tc.Heard().Len()
	c.Heard().WaitSamples(t, before+secondOfAudio/2)
	tc.Heard().WaitSamples(t, beforeTrunk+secondOfAudio/2)
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	get := func(path string, header http.Header) (int, string) {
		t.Helper()

		return httpRequest(t, http.MethodGet, "http://"+e.http+path, header)
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
	b := login(t, e, "alice")
	sdp := offer(t)
	b.Send(t, signaling.Dial{ID: "x", To: "+15559990000", SDP: sdp})
	expect[signaling.ErrorReply](t, b)
	_, metrics := adminGet(t, e, "/metrics")
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
	// The trunk refuses registrations: the gateway stays unregistered.
	e := newEnv(t, testConfig{register: true}, faketrunk.WithRegisterStatus(403))
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
	b := login(t, e, "alice")
	sdp := offer(t)
	b.Send(t, signaling.Dial{ID: "c1", To: "+15550123", SDP: sdp})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeTrunkUnavailable {
		t.Errorf("dial: %+v, want trunk_unavailable", r)
	}
}

func TestCloseReleasesSockets(t *testing.T) {
	t.Parallel()
	logger, _ := logcapture.New(t)
	cfg := parseTestConfig(t, testConfig{})
	gw, err := New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	httpAddr, adminAddr := gw.HTTPAddr().String(), gw.AdminAddr().String()
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
	for name, addr := range map[string]string{"HTTP": httpAddr, "admin": adminAddr} {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("%s port still taken: %v", name, err)
		}
		_ = ln.Close()
	}
	pc, err := lc.ListenPacket(context.Background(), "udp", sipAddr.String())
	if err != nil {
		t.Fatalf("SIP port still taken: %v", err)
	}
	_ = pc.Close()
}

func TestOutboundRingTimeoutCancels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{dialRing: "5s"})
	e.trunk.SetPlan(faketrunk.Plan{RingForever: true})
	b := login(t, e, "alice")
	dial(t, b, "c1", "+15550123")
	expectProgress[signaling.Ringing](t, b)
	if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRingTimeout {
		t.Fatalf("hangup %+v, want ring_timeout", h)
	}
	e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndCancelled)
}
