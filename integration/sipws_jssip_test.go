package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// sipwsPassword is alice's sip_password in the SIP over WebSocket tests.
const sipwsPassword = "sip-secret-0123456"

// sipwsGateway runs the gateway of browserStartGateway with SIP over
// WebSocket on /sip and alice's SIP password.
func sipwsGateway(t *testing.T, trunkPort uint16) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("peer", trunkPort, testconfig.User{ID: userAlice, DisplayName: "Alice", SIPPassword: sipwsPassword})
	c.Grace = "2s"
	c.Extra = "sip_websocket:\n  path: /sip\n"

	return startGateway(t, c, logger, logs)
}

// sipwsBundle builds JsSIP from test/js (installed by scripts/deps.sh
// test) into one script with the test-only esbuild, and returns it.
func sipwsBundle(t *testing.T, pkg, global string) string {
	t.Helper()
	js, err := filepath.Abs(filepath.Join("..", "test", "js"))
	if err != nil {
		t.Fatal(err)
	}
	esbuild := filepath.Join(js, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(filepath.Join(js, "node_modules", pkg)); err != nil {
		t.Fatalf("npm package %s missing: run scripts/deps.sh test (%v)", pkg, err)
	}
	dir := t.TempDir()
	entry := filepath.Join(js, ".entry-"+global+".mjs")
	if err := os.WriteFile(entry, []byte(`import * as m from "`+pkg+`"; window.`+global+` = m.default || m;`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(entry)
	out := filepath.Join(dir, global+".js")
	cmd := exec.CommandContext(t.Context(), esbuild, entry, "--bundle", "--format=iife", "--log-level=error", "--outfile="+out)
	cmd.Dir = js
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild %s: %v\n%s", pkg, err, b)
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	return string(src)
}

// jssipPhone opens a page of the gateway in Chromium, loads JsSIP into it
// with the options of docs/sip-websocket.md, and waits for it to register
// as alice.
func jssipPhone(t *testing.T, e *env) *browserChrome {
	t.Helper()
	bundle := sipwsBundle(t, "jssip", "JsSIP")
	b := browserStart(t, browserToneHz)
	b.run(20*time.Second, "open a page of the gateway", chromedp.Navigate(e.httpURL+"/healthz"))
	chromeEval[any](b, "load JsSIP", bundle+";0")
	if os.Getenv("JSSIP_DEBUG") != "" {
		chromeEval[any](b, "debug", "window.JSSIP_DEBUG = true")
	}
	ws := "ws" + strings.TrimPrefix(e.httpURL, "http") + "/sip"
	chromeEval[any](b, "start JsSIP", jssipPageJS(ws))
	chromePoll(b, "registered", `window.phone.registered === true`, `JSON.stringify(window.phone.log)`, 15*time.Second)

	return b
}

// jssipPageJS is the minimal softphone of the tests: a JsSIP UA with the
// options docs/sip-websocket.md gives, an <audio> element for the far
// end, and window.phone with what happened.
func jssipPageJS(wsURL string) string {
	return `(() => {
	const audio = document.createElement("audio");
	audio.id = "remote-audio";
	audio.autoplay = true;
	document.body.appendChild(audio);
	const phone = window.phone = {log: [], state: "", registered: false};
	if (window.JSSIP_DEBUG) { JsSIP.debug.enable("JsSIP:*"); }
	const ua = new JsSIP.UA({
		sockets: [new JsSIP.WebSocketInterface(` + jsString(wsURL) + `)],
		uri: "sip:alice@webtrunk",
		password: ` + jsString(sipwsPassword) + `,
		session_timers: false,
		register: true,
	});
	ua.on("registered", () => { phone.registered = true; });
	ua.on("registrationFailed", (e) => { phone.log.push("registration failed: " + e.cause); });
	ua.on("newRTCSession", (e) => {
		const s = e.session;
		phone.session = s;
		phone.direction = e.originator;
		phone.state = e.originator === "remote" ? "incoming" : "calling";
		const play = () => {
			const tracks = s.connection.getReceivers().map((r) => r.track);
			audio.srcObject = new MediaStream(tracks);
			audio.play().catch(() => {});
		};
		s.on("progress", (ev) => { phone.log.push("progress " + (ev.response ? ev.response.status_code : "")); });
		s.on("confirmed", () => { phone.state = "confirmed"; play(); });
		s.on("ended", (ev) => { phone.state = "ended"; phone.cause = ev.cause; });
		s.on("failed", (ev) => {
			phone.state = "failed";
			phone.cause = ev.cause;
			phone.code = ev.message && ev.message.status_code;
			phone.warning = ev.message && ev.message.getHeader && ev.message.getHeader("Warning");
		});
	});
	ua.start();
	phone.ua = ua;
	phone.options = {
		mediaConstraints: {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}, video: false},
		pcConfig: {iceServers: []},
	};
	phone.call = (n) => { ua.call("sip:" + n + "@webtrunk", phone.options); };
	// The gateway's INVITE has no SDP: JsSIP makes the offer, and asks
	// for audio only when told to.
	phone.answer = () => { phone.session.answer({...phone.options, rtcOfferConstraints: {offerToReceiveAudio: true}}); };
	return 0;
})()`
}

// phoneState describes window.phone for failure messages.
const phoneState = `JSON.stringify({state: window.phone.state, cause: window.phone.cause, code: window.phone.code, log: window.phone.log})`

// TestJsSIPDialsSippEcho: JsSIP registers over SIP over WebSocket, calls
// a number through the gateway to a sipp UAS that echoes RTP, hears its
// own tone back (Opus -> G.711 -> Opus) and hangs up with BYE.
func TestJsSIPDialsSippEcho(t *testing.T) {
	uas := startSipp(t, "uas_answer.xml", sipp.Options{Echo: true}, 0)
	e := sipwsGateway(t, uint16(uas.Port())) //nolint:gosec // a port
	b := jssipPhone(t, e)

	chromeEval[any](b, "call", `window.phone.call("+15550123")`)
	chromePoll(b, "confirmed", `window.phone.state === "confirmed"`, phoneState, 20*time.Second)
	rep := b.waitHearsOn("remote-audio", browserToneHz, trunkToneHz, 15*time.Second)
	t.Logf("JsSIP hears its echo: rms %.0f, share at %d Hz %.2f", rep.RMS, browserToneHz, rep.Want)

	chromeEval[any](b, "hang up", `window.phone.session.terminate()`)
	chromePoll(b, "ended", `window.phone.state === "ended"`, phoneState, 10*time.Second)
	e.logs.WaitLine(t, "call ended")
	uas.Wait(stepTimeout)
}

// TestJsSIPDTMFReachesSIP: digits JsSIP sends as SIP INFO (its default)
// leave the gateway as RFC 4733 telephone-events, in order.
func TestJsSIPDTMFReachesSIP(t *testing.T) {
	const digits = "159#"
	media := faketrunk.NewMedia(t, trunkToneHz) // records; sends nothing
	uas := startSipp(t, "uas_answer.xml", sipp.Options{}, int(media.Addr().Port()))
	e := sipwsGateway(t, uint16(uas.Port())) //nolint:gosec // a port
	b := jssipPhone(t, e)

	chromeEval[any](b, "call", `window.phone.call("+15550123")`)
	chromePoll(b, "confirmed", `window.phone.state === "confirmed"`, phoneState, 20*time.Second)
	media.Heard().WaitTone(t, "the SIP side", 0, browserToneHz, trunkToneHz)
	for _, d := range digits {
		chromeEval[any](b, "send "+string(d), `window.phone.session.sendDTMF(`+jsString(string(d))+`)`)
		time.Sleep(250 * time.Millisecond) // a person's pace
	}
	media.Heard().WaitDigits(t, digits)
	chromeEval[any](b, "hang up", `window.phone.session.terminate()`)
	chromePoll(b, "ended", `window.phone.state === "ended"`, phoneState, 10*time.Second)
	uas.Wait(stepTimeout)
}

// TestJsSIPAnswersSippCall: a sipp UAC calls alice's DID; the gateway
// sends JsSIP an INVITE without SDP, JsSIP answers with its offer, gets
// the answer in the ACK, and hears its tone echoed by the caller until
// sipp hangs up.
func TestJsSIPAnswersSippCall(t *testing.T) {
	e := sipwsGateway(t, uint16(sipp.FreePort(t))) //nolint:gosec // a port
	b := jssipPhone(t, e)

	uac := startSipp(t, "uac_did.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice, Echo: true}, 0)
	chromePoll(b, "incoming", `window.phone.state === "incoming"`, phoneState, 15*time.Second)
	chromeEval[any](b, "answer", `window.phone.answer()`)
	chromePoll(b, "confirmed", `window.phone.state === "confirmed"`, phoneState, 15*time.Second)
	rep := b.waitHearsOn("remote-audio", browserToneHz, trunkToneHz, 10*time.Second)
	t.Logf("JsSIP hears its tone echoed by the caller: rms %.0f, share %.2f", rep.RMS, rep.Want)
	// sipp hangs up 8 s after its ACK.
	chromePoll(b, "ended by the caller", `window.phone.state === "ended"`, phoneState, 20*time.Second)
	uac.Wait(stepTimeout)
}

// TestJsSIPRefusedOutsideDialRules: a number the dial rules deny is
// refused 403 with a Warning, and nothing reaches the trunk.
func TestJsSIPRefusedOutsideDialRules(t *testing.T) {
	e := sipwsGateway(t, uint16(sipp.FreePort(t))) //nolint:gosec // a port
	b := jssipPhone(t, e)

	chromeEval[any](b, "call", `window.phone.call("+19005550123")`)
	chromePoll(b, "failed", `window.phone.state === "failed"`, phoneState, 20*time.Second)
	if code := chromeEval[float64](b, "status", `window.phone.code`); code != 403 {
		t.Errorf("JsSIP got %v, want 403", code)
	}
	if w := chromeEval[string](b, "warning", `String(window.phone.warning)`); !strings.Contains(w, "399") {
		t.Errorf("the 403 has Warning %q, want a 399 warning", w)
	}
}
