package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// These tests drive Firefox ESR (headless, fake microphone playing
// browserToneHz) against the in-process gateway and the fake trunk, in a
// private network namespace (scripts/isolated.sh): the softphone page, and
// a page that imports webtrunk.js itself.

// firefoxEventPT is the telephone-event payload type between the gateway
// and the fake trunk in both directions of call.
const firefoxEventPT = faketrunk.DefaultEventPT

// firefoxSoftphoneState is what the softphone shows, for failure messages.
const firefoxSoftphoneState = `({state: document.querySelector("main")?.dataset.callState,
	status: document.getElementById("status")?.textContent,
	error: document.getElementById("error")?.hidden ? "" : document.getElementById("error")?.textContent})`

// waitSoftphone waits until the softphone's data-call-state is state.
func (f *browserFox) waitSoftphone(state string, timeout time.Duration) {
	f.t.Helper()
	f.poll("softphone state "+state, `document.querySelector("main")?.dataset.callState === `+jsString(state), firefoxSoftphoneState, timeout)
}

// click clicks the element that selector finds.
func (f *browserFox) click(selector string) {
	f.t.Helper()
	f.eval("click "+selector, `(() => { const el = document.querySelector(`+jsString(selector)+`); if (!el) { throw new Error("no element"); } el.click(); })()`, nil)
}

// TestFirefoxSoftphone: the softphone page in Firefox ESR places a call
// with tone both ways, sends digits from its keypad (well-formed RFC 4733
// events at the trunk), hangs up, then answers an inbound call with tone
// both ways that the trunk ends.
func TestFirefoxSoftphone(t *testing.T) {
	e := newEnv(t, envOptions{})
	f := firefoxStart(t, browserToneHz)
	f.gotoURL(e.httpURL + "/")
	f.eval("sign in", `(() => {
		document.getElementById("user").value = `+jsString(userAlice)+`;
		document.getElementById("password").value = `+jsString(testPassword)+`;
		document.getElementById("login-button").click();
	})()`, nil)
	f.waitSoftphone("idle", 15*time.Second)
	f.eval("switch voice processing off", `(() => { const b = document.getElementById("processing"); if (b.checked) { b.click(); } })()`, nil)

	t.Run("outbound", func(t *testing.T) {
		f.t = t
		f.eval("dial", `(() => { document.getElementById("number").value = `+jsString(numberOK)+`; document.getElementById("call").click(); })()`, nil)
		tc := e.trunk.WaitCallTo(t, numberOK)
		f.waitSoftphone("connected", 20*time.Second)
		tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
		f.waitHears("remote-audio", trunkToneHz, browserToneHz, 15*time.Second)

		const digits = "159#"
		for _, d := range digits {
			f.click(`#keypad button[data-key="` + string(d) + `"]`)
			time.Sleep(250 * time.Millisecond) // a person's pace
		}
		tc.Heard().WaitDigits(t, digits)
		checkTrunkEvents(t, tc, digits)

		f.click("#hangup")
		f.waitSoftphone("idle", 10*time.Second)
		tc.WaitEnded(t, faketrunk.EndByeReceived)
	})
	t.Run("inbound", func(t *testing.T) {
		f.t = t
		tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{From: "+15557770001", FromName: "Trunk Caller"})
		tc.WaitRinging(t)
		f.poll("the incoming call shows", `!document.getElementById("incoming").hidden`, firefoxSoftphoneState, 15*time.Second)
		f.click("#accept")
		f.waitSoftphone("connected", 20*time.Second)
		tc.WaitAnswered(t)
		tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
		f.waitHears("remote-audio", trunkToneHz, browserToneHz, 15*time.Second)
		tc.Bye(t)
		f.waitSoftphone("idle", 10*time.Second)
	})
}

// checkTrunkEvents asserts that the telephone-events the trunk received
// on call tc are well-formed (RFC 4733 section 2.5.1) and carry digits.
func checkTrunkEvents(t *testing.T, tc *faketrunk.Call, digits string) {
	t.Helper()
	events := testcodec.WaitWellFormedEvents(t, tc.Media().WaitPackets, firefoxEventPT)
	got := ""
	for _, ev := range events {
		got += string(ev.Digit)
		if ev.Duration < 640 || ev.Duration > 960 {
			t.Errorf("event %+v: duration out of 80 to 120 ms", ev)
		}
	}
	if got != digits {
		t.Errorf("the trunk received events %q, want %q", got, digits)
	}
}

// librarySignInJS signs in with webtrunk.js imported by the page itself,
// with the DeviceOptions members of the object literal extra beside the
// credentials, voice processing off and the far end on a new
// <audio id="far-end">; it keeps the device in window.device and inbound
// calls in window.calls, and resolves to the device's state.
func librarySignInJS(extra string) string {
	return `(async () => {
	const { Device } = await import("/webtrunk.js");
	const audio = document.createElement("audio");
	audio.id = "far-end";
	audio.autoplay = true;
	document.body.append(audio);
	const device = new Device({
		user: ` + jsString(userAlice) + `, password: ` + jsString(testPassword) + `,
		audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
		audioElement: audio,
		...(` + extra + `),
	});
	window.device = device;
	window.calls = [];
	device.on("incoming", (call) => { window.calls.push(call); });
	await device.connect();
	return device.state;
})()`
}

// libraryDialJS places a call with the library and keeps it in
// window.call, its DisconnectInfo in window.lastHangup.
func libraryDialJS(number string) string {
	return `(() => {
		const call = window.device.call(` + jsString(number) + `);
		window.call = call;
		call.on("disconnected", (info) => { window.lastHangup = info; });
		return call.state;
	})()`
}

// TestFirefoxLibrary: a page of its own importing webtrunk.js in Firefox
// ESR places a call with tone both ways and digits, answers an inbound
// call, and hangs up; then 20 more calls each start their audio within
// 500 ms of Firefox's first ICE connectivity check, measured on a capture
// of the gateway's WebRTC port and matched to each call by its ICE ufrag.
func TestFirefoxLibrary(t *testing.T) {
	e := newEnv(t, envOptions{})
	capture := startCapture(t, e.webrtc.Port())
	f := firefoxStart(t, browserToneHz)
	// Any document of the gateway's origin will do: the page is the
	// library's own source, and the test's script imports it.
	f.gotoURL(e.httpURL + "/webtrunk.js")
	var state string
	f.eval("sign in with webtrunk.js", librarySignInJS("{}"), &state)
	if state != "registered" {
		t.Fatalf("device state %q after connect, want registered", state)
	}
	callState := `({state: window.call?.state, hangup: window.lastHangup})`

	t.Run("outbound", func(t *testing.T) {
		f.t = t
		f.eval("dial", libraryDialJS(numberOK), nil)
		tc := e.trunk.WaitCallTo(t, numberOK)
		f.poll("connected", `window.call.state === "connected"`, callState, 20*time.Second)
		tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
		f.waitHears("far-end", trunkToneHz, browserToneHz, 15*time.Second)
		f.eval("send digits", `window.call.sendDigits("1234#")`, nil)
		tc.Heard().WaitDigits(t, "1234#")
		checkTrunkEvents(t, tc, "1234#")
		f.eval("hang up", `window.call.hangup()`, nil)
		f.poll("ended", `window.call.state === "ended"`, callState, 10*time.Second)
		tc.WaitEnded(t, faketrunk.EndByeReceived)
	})
	t.Run("inbound", func(t *testing.T) {
		f.t = t
		tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{From: "+15557770002"})
		f.poll("incoming", `window.calls.length === 1 && window.calls[0].state === "ringing"`, `window.calls.map((c) => c.state)`, 15*time.Second)
		f.eval("accept", `(() => { window.call = window.calls[0]; window.call.accept(); })()`, nil)
		f.poll("connected", `window.call.state === "connected"`, callState, 20*time.Second)
		tc.WaitAnswered(t)
		tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
		f.waitHears("far-end", trunkToneHz, browserToneHz, 15*time.Second)
		f.eval("hang up", `window.call.hangup()`, nil)
		f.poll("ended", `window.call.state === "ended"`, callState, 10*time.Second)
		tc.WaitEnded(t, faketrunk.EndByeReceived)
	})
	const firstAudioCalls = 20
	var ufrags []string // the browser's ICE ufrag of each call (RFC 8839 section 5.4)
	t.Run("first audio", func(t *testing.T) {
		f.t = t
		for i := range firstAudioCalls {
			number := fmt.Sprintf("+1555123%04d", 100+i)
			f.eval("dial", libraryDialJS(number), nil)
			tc := e.trunk.WaitCallTo(t, number)
			f.poll("connected", `window.call.state === "connected"`, callState, 20*time.Second)
			var ufrag string
			f.eval("the call's ICE ufrag", `window.call.peerConnection.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]`, &ufrag)
			ufrags = append(ufrags, ufrag)
			tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)
			f.eval("hang up", `window.call.hangup()`, nil)
			f.poll("ended", `window.call.state === "ended"`, callState, 10*time.Second)
			tc.WaitEnded(t, faketrunk.EndByeReceived)
		}
	})
	f.t = t
	const limit = 500 * time.Millisecond
	sessions := firstAudioTimes(capture.stop(), e.webrtc)
	late := 0
	for i, ufrag := range ufrags {
		var fa *firstAudio
		for user, s := range sessions {
			if strings.HasSuffix(user, ":"+ufrag) {
				fa = s
			}
		}
		switch {
		case fa == nil:
			t.Errorf("call %d (ufrag %s): no Binding Request in the capture (%d ICE sessions captured)", i, ufrag, len(sessions))
		case fa.up.IsZero() || fa.dwn.IsZero():
			t.Errorf("call %d (%s): no SRTP in the capture (from the browser %v, from the gateway %v)", i, fa.browser, !fa.up.IsZero(), !fa.dwn.IsZero())
		default:
			up, down := fa.up.Sub(fa.binding), fa.dwn.Sub(fa.binding)
			t.Logf("call %d (%v): first SRTP from the browser %v, from the gateway %v after its first Binding Request", i, fa.browser, up.Round(time.Millisecond), down.Round(time.Millisecond))
			if up > limit || down > limit {
				late++
			}
		}
	}
	if late > 0 {
		t.Errorf("%d of %d calls started their audio later than %v after the first connectivity check", late, len(ufrags), limit)
	}
}
