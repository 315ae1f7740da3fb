package gateway

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestRTPPortExhaustion: with one trunk-side RTP port pair and one call up, a dial is refused
// with over_capacity before the browser gets an answer and before any INVITE, /readyz reports
// the exhaustion and the metrics count it; once the call ends the gateway is ready again.
func TestRTPPortExhaustion(t *testing.T) {
	t.Parallel()
	base := 34000 + 2*rand.IntN(500)
	e := newEnv(t, testConfig{edit: func(c *config.Config) {
		c.SIP.RTP = config.PortRange{PortMin: base, PortMax: base + 1}
	}})
	assertReadyz(t, e, http.StatusOK, "ready")
	b1 := newFakeBrowser(t, e)
	b1.login("alice")
	b2 := newFakeBrowser(t, e)
	b2.login("alice")

	b1.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b1)
	assertReadyz(t, e, http.StatusServiceUnavailable, "no free RTP ports")

	_, sdp := b2.offer("c2")
	b2.send(signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp, Ref: "r2"})
	r := expect[signaling.ErrorReply](t, b2) // an Answer first would fail here
	if r.Code != signaling.CodeOverCapacity || r.CallID != "c2" || r.Ref != "r2" {
		t.Errorf("second dial: %+v, want over_capacity for c2", r)
	}
	if n := e.trunk.inviteCount(); n != 1 {
		t.Errorf("the trunk got %d INVITEs, want 1 (none for the refused dial)", n)
	}
	_, metrics := httpGet(t, e, "/metrics")
	for _, want := range []string{
		`webtrunk_rtp_ports_free 0`,
		`webtrunk_rtp_ports_exhausted_total 1`,
		`webtrunk_dials_denied_total{reason="over_capacity"} 1`,
		`webtrunk_sip_refused_total{reason="foreign_in_dialog"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	b1.send(signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	waitBYE(t, tc)
	deadline := time.Now().Add(10 * time.Second)
	for e.gw.ua.Ports().Free() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the call's sockets close as its session ends
	}
	assertReadyz(t, e, http.StatusOK, "ready")
}
