package integration

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
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

// iptablesDrop adds (or, with del, removes) a rule dropping at random the
// share p of the UDP datagrams from source port sport, in the test's
// private network namespace.
func iptablesDrop(t *testing.T, sport uint16, p float64, del bool) {
	t.Helper()
	iptablesDropPort(t, "--sport", sport, p, del)
}

// iptablesDropPort is iptablesDrop for the datagrams whose port (flag
// "--sport" for the source, "--dport" for the destination) is port.
func iptablesDropPort(t *testing.T, flag string, port uint16, p float64, del bool) {
	t.Helper()
	op := "-A"
	if del {
		op = "-D"
	}
	out, err := exec.CommandContext(t.Context(), "iptables", op, "INPUT", "-p", "udp", flag, strconv.Itoa(int(port)),
		"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', 2, 64), "-j", "DROP").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables %s (install the Debian package iptables; run in scripts/isolated.sh): %v: %s", op, err, out)
	}
}

// TestBrowserDevicesAndWarnings: mid-call, webtrunk.js in Chromium lists
// the audio devices, switches the microphone (replaceTrack) and the
// speaker (setSinkId) without ending the call, the trunk still hearing the
// page's tone and the page the trunk's; a loss of 30% of the gateway's
// packets raises the high_loss warning with the figures of getStats, and
// it clears once the loss stops.
func TestBrowserDevicesAndWarnings(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := libraryPage(t, e, `{qualityWarnings: {intervalMs: 500}}`)
	chromeEval[string](b, "dial", libraryDialJS(numberOK)+` && (window.warnings = [], window.call.on("warning", (w) => window.warnings.push(w)), window.call.state)`)
	tc := e.trunk.WaitCallTo(t, numberOK)
	chromePoll(b, "connected", `window.call.state === "connected"`, libraryCallState, 20*time.Second)
	tc.Heard().WaitTone(t, "the trunk", 0, browserToneHz, trunkToneHz)

	t.Run("input device", func(t *testing.T) {
		b.t = t
		switched := chromeEval[map[string]any](b, "switch the microphone", `(async () => {
			const { inputs } = await window.device.getAudioDevices();
			const before = window.call.localStream.getAudioTracks()[0].getSettings().deviceId;
			const other = inputs.find((d) => d.deviceId !== before && d.deviceId !== "default" && d.deviceId !== "communications");
			if (!other) { return { inputs: inputs.map((d) => d.label) }; }
			let changed = null;
			window.call.once("inputchange", (track) => { changed = track.getSettings().deviceId; });
			await window.device.setInputDevice(other.deviceId);
			const sender = window.call.peerConnection.getSenders().find((s) => s.track);
			return { inputs: inputs.map((d) => d.label), before, want: other.deviceId, changed,
				sending: sender.track.getSettings().deviceId, state: window.call.state };
		})()`)
		if switched["want"] == nil {
			t.Fatalf("Chromium lists no second microphone: %v", switched)
		}
		if switched["changed"] != switched["want"] || switched["sending"] != switched["want"] || switched["state"] != "connected" {
			t.Fatalf("after switching the microphone: %v", switched)
		}
		t.Logf("microphone switched: %v", switched)
		tc.Heard().WaitTone(t, "the trunk after the switch", tc.Heard().Len(), browserToneHz, trunkToneHz)
	})
	t.Run("output device", func(t *testing.T) {
		b.t = t
		got := chromeEval[map[string]any](b, "choose the speaker", `(async () => {
			const { outputs } = await window.device.getAudioDevices();
			const id = outputs.length ? outputs[outputs.length - 1].deviceId : "";
			await window.device.setOutputDevice(id);
			return { outputs: outputs.map((d) => d.label), want: id, sink: document.getElementById("far-end").sinkId, state: window.call.state };
		})()`)
		if got["want"] == "" || got["sink"] != got["want"] || got["state"] != "connected" {
			t.Fatalf("after choosing the speaker: %v", got)
		}
		t.Logf("speaker chosen: %v", got)
		b.waitHearsOn("far-end", trunkToneHz, browserToneHz, 10*time.Second)
	})
	t.Run("quality warnings", func(t *testing.T) {
		b.t = t
		iptablesDrop(t, e.webrtc.Port(), 0.3, false)
		raised := `window.call.warnings.some((w) => w.name === "high_loss")`
		chromePoll(b, "high_loss raised", raised, `({warnings: window.warnings, quality: window.call.quality})`, 15*time.Second)
		w := chromeEval[map[string]any](b, "the warning", `window.warnings.find((w) => w.name === "high_loss" && w.raised)`)
		figures, _ := w["figures"].(map[string]any)
		if loss, _ := figures["loss"].(float64); w["source"] != "browser" || loss < 0.1 || loss > 0.6 {
			t.Errorf("warning %v: want source browser and about 30%% loss in its figures", w)
		}
		iptablesDrop(t, e.webrtc.Port(), 0.3, true)
		chromePoll(b, "high_loss cleared", `!(`+raised+`) && window.warnings.some((w) => w.name === "high_loss" && !w.raised)`,
			`({warnings: window.warnings, quality: window.call.quality})`, 15*time.Second)
		if st := chromeEval[string](b, "state", `window.call.state`); st != "connected" {
			t.Errorf("state %q after the loss, want connected", st)
		}
	})
	b.t = t
	chromeEval[any](b, "hang up", `window.call.hangup()`)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
}

// TestBrowserPreflight: before any call, Device.preflight in Chromium
// hears the fake microphone's tone, gathers ICE candidates, and measures
// the signaling round trip to the gateway.
func TestBrowserPreflight(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := libraryPage(t, e, `{}`)
	r := chromeEval[map[string]any](b, "preflight", `window.device.preflight({sampleMs: 500})`)
	t.Logf("preflight: %v", r)
	mic, _ := r["microphone"].(map[string]any)
	ice, _ := r["ice"].(map[string]any)
	level, _ := mic["levelDb"].(float64)
	if mic["ok"] != true || level < -20 || level > 0 {
		t.Errorf("microphone %v: want ok at the tone's level (about -9 dBFS)", mic)
	}
	if types, _ := ice["candidateTypes"].([]any); ice["ok"] != true || len(types) == 0 {
		t.Errorf("ice %v: want candidates gathered", ice)
	}
	if rtt, ok := r["signalingRttMs"].(float64); !ok || rtt < 0 || rtt > 2000 {
		t.Errorf("signaling round trip %v, want a figure in ms", r["signalingRttMs"])
	}
}
