package gateway

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
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
	b1 := login(t, e, "alice")
	b2 := login(t, e, "alice")

	dial(t, b1, "c1", "+15550123")
	tc := e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b1)
	assertReadyz(t, e, http.StatusServiceUnavailable, "no free RTP ports")

	sdp := offer(t)
	b2.Send(t, signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp, Ref: "r2"})
	r := expect[signaling.ErrorReply](t, b2) // an Answer first would fail here
	if r.Code != signaling.CodeOverCapacity || r.CallID != "c2" || r.Ref != "r2" {
		t.Errorf("second dial: %+v, want over_capacity for c2", r)
	}
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 1 {
		t.Errorf("the trunk got %d INVITEs, want 1 (none for the refused dial)", n)
	}
	_, metrics := adminGet(t, e, "/metrics")
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

	b1.Send(t, signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	// The session closed the call's sockets before it told the tab.
	if n := e.gw.ua.Ports().Free(); n != 1 {
		t.Errorf("%d RTP port pairs free after the call ended, want 1", n)
	}
	assertReadyz(t, e, http.StatusOK, "ready")
}
