package integration

import (
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// TestBrowserGatewayQualityWarning: when a third of Chromium's packets to
// the gateway are lost, the gateway's quality event reaches webtrunk.js,
// which reports it through the call's "warning" event with source
// "gateway" and direction "uplink", and clears it once the loss stops;
// the tone still reaches the trunk.
func TestBrowserGatewayQualityWarning(t *testing.T) {
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	trunk := faketrunk.New(t, faketrunk.WithLogger(logger.With("component", "fake-trunk")))
	c := renderConfig(trunk.Addr().Port(), envOptions{})
	c.Extra = "quality:\n  interval: 1s\n"
	e := startGateway(t, c, logger.With("component", "gateway"), logs)
	e.trunk = trunk
	// The browser's own warnings are turned off: only the gateway's count.
	b := libraryPage(t, e, `{qualityWarnings: false}`)
	chromeEval[string](b, "dial", libraryDialJS(numberOK)+` && (window.warnings = [], window.call.on("warning", (w) => window.warnings.push(w)), window.call.state)`)
	tc := e.trunk.WaitCallTo(t, numberOK)
	chromePoll(b, "connected", `window.call.state === "connected"`, libraryCallState, 20*time.Second)
	tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)

	iptablesDropPort(t, "--dport", e.webrtc.Port(), 0.3, false)
	const gatewayLoss = `(w) => w.name === "high_loss" && w.source === "gateway" && w.direction === "uplink"`
	chromePoll(b, "the gateway's high_loss", `window.warnings.some((w) => (`+gatewayLoss+`)(w) && w.raised)`, `({warnings: window.warnings})`, 15*time.Second)
	w := chromeEval[map[string]any](b, "the warning", `window.warnings.find((w) => (`+gatewayLoss+`)(w) && w.raised)`)
	// The interval that raised it may have begun before the loss did.
	if v, _ := w["value"].(float64); v <= 0.05 || v > 0.6 || w["threshold"] != 0.05 || w["figures"] != nil {
		t.Errorf("warning %v: want a loss over the 0.05 threshold (at most 30%%), without browser figures", w)
	}
	tc.Heard().WaitTone(t, "the trunk under loss", tc.Heard().Len(), browserToneHz, trunkToneHz)
	iptablesDropPort(t, "--dport", e.webrtc.Port(), 0.3, true)
	chromePoll(b, "the gateway's high_loss cleared", `window.warnings.some((w) => (`+gatewayLoss+`)(w) && !w.raised) && !window.call.warnings.some(`+gatewayLoss+`)`,
		`({warnings: window.warnings, now: window.call.warnings})`, 15*time.Second)
	t.Logf("gateway warning: %v", w)
	chromeEval[any](b, "hang up", `window.call.hangup()`)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
}
