package integration

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// ringbackHz is the single-frequency ringback tone the early media test
// configures (the European 425 Hz), distinct from both test tones.
const ringbackHz = 425

// TestBrowserEarlyMedia drives webtrunk.js in Chromium through the two
// kinds of alerting: a trunk that rings without media (180) leaves the
// call "ringing" with the library's local ringback playing on the call's
// audio element; a trunk with early media (183 with SDP) puts the call in
// "progress" with the far end's audio playing and no ringback. Both then
// connect to the trunk's tone alone. With ringback off, a ringing call
// plays nothing.
func TestBrowserEarlyMedia(t *testing.T) {
	e := newEnv(t, envOptions{})
	const (
		numberRing  = "+15551230201"
		numberEarly = "+15551230202"
		numberQuiet = "+15551230203"
	)
	e.trunk.SetPlanFor(numberRing, faketrunk.Plan{Ring: 5 * time.Second})
	e.trunk.SetPlanFor(numberEarly, faketrunk.Plan{Ring: 5 * time.Second, EarlyMedia: true})
	e.trunk.SetPlanFor(numberQuiet, faketrunk.Plan{Ring: 3 * time.Second})
	b := browserStart(t, browserToneHz)
	b.run(20*time.Second, "open a page of the gateway", chromedp.Navigate(e.httpURL+"/webtrunk.js"))
	// A steady tone while ringing (5 s on), so that any analysis window
	// hears it.
	if st := chromeEval[string](b, "sign in", librarySignInJS(`{ringback: {frequencies: [425], onMs: 5000, offMs: 1000, volume: 0.5}}`)); st != "registered" {
		t.Fatalf("device state %q, want registered", st)
	}
	callState := `({state: window.call?.state, hangup: window.lastHangup})`

	// Before the answer the page plays its ringback, or the trunk's early
	// media when there is some; after it, the trunk's tone.
	for _, tc := range []struct {
		name, number, state, playing string
		hearHz, notHz                float64
	}{
		{"ringing without media", numberRing, "ringing", "the ringback", ringbackHz, trunkToneHz},
		{"early media", numberEarly, "progress", "early media", trunkToneHz, ringbackHz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			chromeEval[string](b, "dial", libraryDialJS(tc.number))
			chromePoll(b, tc.state, `window.call.state === "`+tc.state+`"`, callState, 10*time.Second)
			b.waitHearsOn("far-end", tc.hearHz, tc.notHz, 5*time.Second)
			if st := chromeEval[string](b, "state", `window.call.state`); st != tc.state {
				t.Fatalf("state %q while %s played, want %s", st, tc.playing, tc.state)
			}
			chromePoll(b, "connected", `window.call.state === "connected"`, callState, 15*time.Second)
			b.waitHearsOn("far-end", trunkToneHz, ringbackHz, 10*time.Second)
			chromeEval[any](b, "hang up", `window.call.hangup()`)
		})
	}
	t.Run("ringback off", func(t *testing.T) {
		b.t = t
		chromeEval[any](b, "sign in again without ringback", `(async () => {
			window.device.disconnect();
			document.getElementById("far-end").remove();
		})()`)
		if st := chromeEval[string](b, "sign in", librarySignInJS(`{ringback: false}`)); st != "registered" {
			t.Fatalf("device state %q, want registered", st)
		}
		chromeEval[string](b, "dial", libraryDialJS(numberQuiet))
		chromePoll(b, "ringing", `window.call.state === "ringing"`, callState, 10*time.Second)
		b.waitQuietOn("far-end", 2*time.Second)
		if st := chromeEval[string](b, "state", `window.call.state`); st != "ringing" {
			t.Fatalf("state %q, want still ringing while quiet", st)
		}
		chromeEval[any](b, "hang up", `window.call.hangup()`)
	})
}
