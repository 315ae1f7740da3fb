package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// libraryPage opens a document of the gateway e in Chromium and signs in
// with webtrunk.js imported by the page, with the DeviceOptions members of
// the object literal extra (see librarySignInJS).
func libraryPage(t *testing.T, e *env, extra string) *browserChrome {
	t.Helper()
	b := browserStart(t, browserToneHz)
	b.run(20*time.Second, "open a page of the gateway", chromedp.Navigate(e.httpURL+"/webtrunk.js"))
	if st := chromeEval[string](b, "sign in", librarySignInJS(extra)); st != "registered" {
		t.Fatalf("device state %q, want registered", st)
	}

	return b
}

// libraryCallState describes window.call for failure messages.
const libraryCallState = `({state: window.call?.state, hangup: window.lastHangup})`

// TestBrowserPCMUPassthrough: with preferredCodecs ["PCMU"], Chromium
// offers PCMU first, the gateway relays it to the PCMU trunk without
// transcoding (its log line says passthrough), and each side hears the
// other's tone.
func TestBrowserPCMUPassthrough(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := libraryPage(t, e, `{preferredCodecs: ["PCMU"]}`)
	chromeEval[string](b, "dial", libraryDialJS(numberOK))
	tc := e.trunk.WaitCallTo(t, numberOK)
	chromePoll(b, "connected", `window.call.state === "connected"`, libraryCallState, 20*time.Second)
	tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
	b.waitHearsOn("far-end", trunkToneHz, browserToneHz, 15*time.Second)
	line := e.logs.WaitLine(t, "media bridged")
	if !strings.Contains(line, "browser PCMU/8000") || !strings.Contains(line, "up: PCMU/8000 passthrough") || !strings.Contains(line, "down: PCMU/8000 passthrough") {
		t.Errorf("the call's log line does not show PCMU passed through both ways: %s", line)
	}
	chromeEval[any](b, "hang up", `window.call.hangup()`)
}
