package gateway

import (
	"math/rand/v2"
	"net/http"
	"testing"

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
	b1, _, tc, _ := secondDialRefused(t, e, "no free RTP ports")
	assertMetrics(t, e,
		`webtrunk_rtp_ports_free 0`,
		`webtrunk_rtp_ports_exhausted_total 1`,
		`webtrunk_dials_denied_total{reason="over_capacity"} 1`,
		`webtrunk_sip_refused_total{reason="foreign_in_dialog"} 0`,
	)

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
