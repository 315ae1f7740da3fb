package integration

import (
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/sipp"
)

// TestBrowserReferredByTrunk: Chromium with webtrunk.js calls a PBX (sipp,
// echoing RTP) that transfers the call to +15550198 and hangs up. The call
// emits referred with the new number, remoteNumber gives it, the call stays
// connected and the page hears its own tone come back through the new
// party; the demo page shows the new number.
func TestBrowserReferredByTrunk(t *testing.T) {
	uas := startSipp(t, "uas_transfers_leaves.xml", sipp.Options{Echo: true, Extra: []string{"-m", "2", "-set", "target", "+15550198"}}, 0)
	e := startCarrierGateway(t, uas.Port(), 0, "", "    transfer: refer")
	b := libraryPage(t, e, `{}`)
	chromeEval[string](b, "dial", libraryDialJS(carrierNumber)+
		` && (window.referred = [], window.call.on("referred", (n) => window.referred.push(n)), window.call.state)`)
	chromePoll(b, "referred", `window.referred.length === 1 && window.referred[0] === "+15550198" && window.call.remoteNumber === "+15550198" && window.call.state === "connected"`,
		`({referred: window.referred, remote: window.call?.remoteNumber, state: window.call?.state, hangup: window.lastHangup})`, 20*time.Second)
	b.waitHearsOn("far-end", browserToneHz, trunkToneHz, 15*time.Second)
	chromeEval[any](b, "hang up", `window.call.hangup()`)
	uas.Wait(stepTimeout)
}

// TestBrowserDemoShowsReferred: the demo page, in a call a PBX transfers,
// shows the new party's number and says the call was transferred.
func TestBrowserDemoShowsReferred(t *testing.T) {
	uas := startSipp(t, "uas_transfers_leaves.xml", sipp.Options{Echo: true, Extra: []string{"-m", "2", "-set", "target", "+15550198"}}, 0)
	e := startCarrierGateway(t, uas.Port(), 0, "", "    transfer: refer")
	b := browserStart(t, browserToneHz)
	b.login(e.pageURL(), userAlice, testPassword)
	b.dial(carrierNumber)
	b.waitState("connected", 20*time.Second)
	chromePoll(b, "the new number shown", `document.getElementById("peer").textContent === "+15550198"`,
		`({peer: document.getElementById("peer").textContent, status: document.getElementById("status").textContent})`, 20*time.Second)
	if got := b.text("status"); got != "Transferred to +15550198." {
		t.Errorf("status %q, want the transfer said", got)
	}
	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	uas.Wait(stepTimeout)
}
