package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testconfig"
	"github.com/webtrunk/webtrunk/internal/testjs"
)

// sipwsPassword is alice's sip_password in the SIP over WebSocket tests.
const sipwsPassword = "sip-secret-0123456"

// sipwsGateway runs the gateway of browserStartGateway with SIP over
// WebSocket on /sip, alice's SIP password and tokens signed with jwtKey.
func sipwsGateway(t *testing.T, trunkPort uint16) *env {
	t.Helper()

	return sipwsGatewayWith(t, trunkPort, nil)
}

// sipwsGatewayWith is sipwsGateway with the fake trunk at trunkPort when
// trunk is not nil.
func sipwsGatewayWith(t *testing.T, trunkPort uint16, trunk *faketrunk.Trunk) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("peer", trunkPort, testconfig.User{ID: userAlice, DisplayName: "Alice", SIPPassword: sipwsPassword})
	c.Grace = "2s"
	c.Extra = "sip_websocket:\n  path: /sip\n"
	c.JWTKey = jwtKey
	e := startGateway(t, c, logger, logs)
	e.trunk = trunk

	return e
}

// sipwsBundle builds JsSIP from test/js (installed by scripts/deps.sh
// test) into one script with the test-only esbuild, and returns it.
func sipwsBundle(t *testing.T, pkg, global string) string {
	t.Helper()
	js := testjs.Require(t, pkg)
	esbuild := testjs.Bin(t, "esbuild", "esbuild")
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

// sipLibrary is a SIP over WebSocket library a test page runs: its npm
// package, the global the bundle sets, and the script that starts it as
// window.phone (phoneAPI).
type sipLibrary struct {
	name, pkg, global string
	page              func(wsURL string) string
}

// sipLibraries are the libraries every SIP over WebSocket test runs with.
var sipLibraries = []sipLibrary{
	{name: "JsSIP", pkg: "jssip", global: "JsSIP", page: jssipPageJS},
	{name: "SIP.js", pkg: "sip.js", global: "SIP", page: sipjsPageJS},
}

// phoneAPI is what both pages set up in window.phone: registered;
// state ("", "calling", "incoming", "confirmed", "ended", "failed");
// code and warning of a failed call's final response; reason, the
// Reason header of a CANCEL; call(number),
// answer(), hangup(), dtmf(digit), hold(on) and held once the re-INVITE
// was accepted; log, what went wrong.
const phoneAPI = `window.phone`

// sipPhone opens a page of the gateway in Chromium, loads lib into it
// with the options of docs/sip-websocket.md, and waits for it to register
// as alice.
func sipPhone(t *testing.T, e *env, lib sipLibrary) *browserChrome {
	t.Helper()
	bundle := sipwsBundle(t, lib.pkg, lib.global)
	b := browserStart(t, browserToneHz)
	b.run(20*time.Second, "open a page of the gateway", chromedp.Navigate(e.httpURL+"/healthz"))
	chromeEval[any](b, "load "+lib.name, bundle+";0")
	if os.Getenv("WEBTRUNK_SIP_DEBUG") != "" {
		chromeEval[any](b, "debug", "window.SIP_DEBUG = true")
	}
	ws := "ws" + strings.TrimPrefix(e.httpURL, "http") + "/sip"
	chromeEval[any](b, "start "+lib.name, lib.page(ws))
	chromePoll(b, "registered", phoneAPI+`.registered === true`, phoneState, 15*time.Second)

	return b
}

// pageAudioJS adds the <audio> element the far end plays in.
const pageAudioJS = `
	const audio = document.createElement("audio");
	audio.id = "remote-audio";
	audio.autoplay = true;
	document.body.appendChild(audio);
	const phone = window.phone = {log: [], state: "", registered: false};
	const play = (pc) => {
		audio.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track));
		audio.play().catch(() => {});
	};
	const microphone = {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}, video: false};
`

// jssipPageJS is the JsSIP softphone of the tests, with the options
// docs/sip-websocket.md gives.
func jssipPageJS(wsURL string) string {
	return `(() => {` + pageAudioJS + `
	if (window.SIP_DEBUG) { JsSIP.debug.enable("JsSIP:*"); }
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
		phone.state = e.originator === "remote" ? "incoming" : "calling";
		s.on("confirmed", () => { phone.state = "confirmed"; play(s.connection); });
		s.on("ended", (ev) => { phone.state = "ended"; phone.cause = ev.cause; });
		s.on("failed", (ev) => {
			phone.state = "failed";
			phone.cause = ev.cause;
			phone.code = ev.message && ev.message.status_code;
			phone.warning = ev.message && ev.message.getHeader && ev.message.getHeader("Warning");
			phone.reason = ev.message && ev.message.getHeader && ev.message.getHeader("Reason");
		});
	});
	ua.start();
	const options = {mediaConstraints: microphone, pcConfig: {iceServers: []}};
	phone.call = (n) => { ua.call("sip:" + n + "@webtrunk", options); };
	// The gateway's INVITE has no SDP: JsSIP makes the offer, and asks
	// for audio only when told to.
	phone.answer = () => { phone.session.answer({...options, rtcOfferConstraints: {offerToReceiveAudio: true}}); };
	phone.hangup = () => { phone.session.terminate(); };
	phone.dtmf = (d) => { phone.session.sendDTMF(d); }; // SIP INFO, JsSIP's default
	// JsSIP emits "hold" before its re-INVITE is answered; done comes after.
	phone.hold = (on) => {
		const done = () => { phone.held = on; };
		if (on) { phone.session.hold({}, done); } else { phone.session.unhold({}, done); }
	};
	return 0;
})()`
}

// sipjsPageJS is the SIP.js softphone of the tests, with the options
// docs/sip-websocket.md gives.
func sipjsPageJS(wsURL string) string {
	return `(() => {` + pageAudioJS + `
	const sdh = {peerConnectionConfiguration: {iceServers: []}, iceGatheringTimeout: 2000};
	const ua = new SIP.UserAgent({
		uri: SIP.UserAgent.makeURI("sip:alice@webtrunk"),
		transportOptions: {server: ` + jsString(wsURL) + `},
		authorizationUsername: "alice",
		authorizationPassword: ` + jsString(sipwsPassword) + `,
		sessionDescriptionHandlerFactoryOptions: sdh,
		logLevel: window.SIP_DEBUG ? "debug" : "warn",
		delegate: {
			onInvite: (invitation) => {
				watch(invitation);
				invitation.delegate = {onCancel: (c) => { phone.reason = c.request.getHeader("Reason"); }};
				phone.state = "incoming";
			},
		},
	});
	const watch = (s) => {
		phone.session = s;
		s.stateChange.addListener((st) => {
			if (st === SIP.SessionState.Established) {
				phone.state = "confirmed";
				play(s.sessionDescriptionHandler.peerConnection);
			} else if (st === SIP.SessionState.Terminated && phone.state !== "failed") {
				phone.state = "ended";
			}
		});
	};
	const options = {sessionDescriptionHandlerOptions: {constraints: microphone}};
	ua.start().then(() => {
		const reg = new SIP.Registerer(ua);
		reg.stateChange.addListener((st) => { if (st === SIP.RegistererState.Registered) { phone.registered = true; } });
		return reg.register();
	}).catch((e) => { phone.log.push("start: " + e); });
	phone.call = (n) => {
		const inviter = new SIP.Inviter(ua, SIP.UserAgent.makeURI("sip:" + n + "@webtrunk"), options);
		watch(inviter);
		phone.state = "calling";
		inviter.invite({requestDelegate: {onReject: (r) => {
			phone.state = "failed";
			phone.code = r.message.statusCode;
			phone.warning = r.message.getHeader("Warning");
		}}}).catch((e) => { phone.log.push("invite: " + e); });
	};
	phone.answer = () => { phone.session.accept(options).catch((e) => { phone.log.push("accept: " + e); }); };
	phone.hangup = () => { phone.session.bye(); };
	// RFC 4733 through the browser's RTCDTMFSender.
	phone.dtmf = (d) => { phone.session.sessionDescriptionHandler.sendDtmf(d, {duration: 100}); };
	// Hold is a re-INVITE whose offer the hold modifier marks sendonly.
	phone.hold = (on) => {
		phone.session.invite({
			sessionDescriptionHandlerModifiers: on ? [SIP.Web.holdModifier] : [],
			requestDelegate: {onAccept: () => { phone.held = on; }},
		}).catch((e) => { phone.log.push("re-invite: " + e); });
	};
	return 0;
})()`
}

// phoneState describes window.phone for failure messages.
const phoneState = `JSON.stringify({state: window.phone.state, cause: window.phone.cause, code: window.phone.code, log: window.phone.log})`

// phoneReaches waits until window.phone.state is state (see phoneAPI), and
// fails the test with the phone's state and log when it is not within
// timeout.
func phoneReaches(b *browserChrome, state string, timeout time.Duration) {
	b.t.Helper()
	chromePoll(b, state, `window.phone.state === `+jsString(state), phoneState, timeout)
}

// forEachLibrary runs test once with each SIP over WebSocket library.
func forEachLibrary(t *testing.T, test func(t *testing.T, lib sipLibrary)) {
	t.Helper()
	for _, lib := range sipLibraries {
		t.Run(lib.name, func(t *testing.T) { test(t, lib) })
	}
}

// TestSIPWebSocketDialsSippEcho: the library registers over SIP over
// WebSocket, calls a number through the gateway to a sipp UAS that echoes
// RTP, hears its own tone back (Opus -> G.711 -> Opus) and hangs up with
// BYE.
func TestSIPWebSocketDialsSippEcho(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		uas := startSipp(t, "uas_answer.xml", sipp.Options{Echo: true}, 0)
		e := sipwsGateway(t, uint16(uas.Port())) //nolint:gosec // a port
		b := sipPhone(t, e, lib)

		chromeEval[any](b, "call", `window.phone.call("+15550123")`)
		phoneReaches(b, "confirmed", 20*time.Second)
		rep := b.waitHearsOn("remote-audio", browserToneHz, trunkToneHz, 15*time.Second)
		t.Logf("%s hears its echo: rms %.0f, share at %d Hz %.2f", lib.name, rep.RMS, browserToneHz, rep.Want)

		chromeEval[any](b, "hang up", `window.phone.hangup()`)
		phoneReaches(b, "ended", 10*time.Second)
		e.logs.WaitLine(t, "reason=local_hangup")
		uas.Wait(stepTimeout)
	})
}

// TestSIPWebSocketDTMFReachesSIP: digits the library sends (JsSIP as SIP
// INFO, its default; SIP.js through RTCDTMFSender) leave the gateway as
// RFC 4733 telephone-events, in order.
func TestSIPWebSocketDTMFReachesSIP(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		const digits = "159#"
		media := faketrunk.NewMedia(t, trunkToneHz) // records; sends nothing
		uas := startSipp(t, "uas_answer.xml", sipp.Options{}, int(media.Addr().Port()))
		e := sipwsGateway(t, uint16(uas.Port())) //nolint:gosec // a port
		b := sipPhone(t, e, lib)

		chromeEval[any](b, "call", `window.phone.call("+15550123")`)
		phoneReaches(b, "confirmed", 20*time.Second)
		media.Heard().WaitTone(t, "the SIP side", 0, browserToneHz, trunkToneHz)
		for _, d := range digits {
			chromeEval[any](b, "send "+string(d), `window.phone.dtmf(`+jsString(string(d))+`)`)
			time.Sleep(250 * time.Millisecond) // a person's pace
		}
		media.Heard().WaitDigits(t, digits)
		chromeEval[any](b, "hang up", `window.phone.hangup()`)
		phoneReaches(b, "ended", 10*time.Second)
		uas.Wait(stepTimeout)
	})
}

// TestSIPWebSocketAnswersSippCall: a sipp UAC calls alice's DID; the
// gateway sends the library an INVITE without SDP, the library answers
// with its offer, gets the answer in the ACK, and hears its tone echoed
// by the caller until sipp hangs up.
func TestSIPWebSocketAnswersSippCall(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		e := sipwsGateway(t, uint16(sipp.FreePort(t))) //nolint:gosec // a port
		b := sipPhone(t, e, lib)

		uac := startSipp(t, "uac_did.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice, Echo: true}, 0)
		phoneReaches(b, "incoming", 15*time.Second)
		chromeEval[any](b, "answer", `window.phone.answer()`)
		phoneReaches(b, "confirmed", 15*time.Second)
		rep := b.waitHearsOn("remote-audio", browserToneHz, trunkToneHz, 10*time.Second)
		t.Logf("%s hears its tone echoed by the caller: rms %.0f, share %.2f", lib.name, rep.RMS, rep.Want)
		// sipp hangs up 8 s after its ACK.
		chromePoll(b, "ended by the caller", `window.phone.state === "ended"`, phoneState, 20*time.Second)
		uac.Wait(stepTimeout)
	})
}

// TestSIPWebSocketRefusedOutsideDialRules: a number the dial rules deny
// is refused 403 with a Warning, and nothing reaches the trunk.
func TestSIPWebSocketRefusedOutsideDialRules(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		e := sipwsGateway(t, uint16(sipp.FreePort(t))) //nolint:gosec // a port
		b := sipPhone(t, e, lib)

		chromeEval[any](b, "call", `window.phone.call("+19005550123")`)
		phoneReaches(b, "failed", 20*time.Second)
		if code := chromeEval[float64](b, "status", `window.phone.code`); code != 403 {
			t.Errorf("%s got %v, want 403", lib.name, code)
		}
		if w := chromeEval[string](b, "warning", `String(window.phone.warning)`); !strings.Contains(w, "399") {
			t.Errorf("the 403 has Warning %q, want a 399 warning", w)
		}
		e.logs.WaitLine(t, "sip invite refused")
	})
}

// TestSIPWebSocketForksWithTabs: an inbound call rings a JSON-protocol
// tab and the library's registration of the same user. When the tab
// answers, the library's INVITE is cancelled with Reason cause=200 "Call
// completed elsewhere" (RFC 3326); when the library answers, the tab is
// told answered_elsewhere.
func TestSIPWebSocketForksWithTabs(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		trunk := faketrunk.New(t)
		e := sipwsGatewayWith(t, trunk.Addr().Port(), trunk)
		b := sipPhone(t, e, lib)
		tab := e.login(t, userAlice)

		tc := trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
		in := tab.ws.ExpectIncoming(t, didAlice)
		phoneReaches(b, "incoming", 15*time.Second)
		peer := tab.accept(t, in.CallID)
		chromePoll(b, "cancelled", `!!window.phone.reason`, phoneState, 10*time.Second)
		if r := chromeEval[string](b, "reason", `window.phone.reason`); r != `SIP;cause=200;text="Call completed elsewhere"` {
			t.Errorf("%s got a CANCEL with Reason %q, want cause 200 Call completed elsewhere", lib.name, r)
		}
		tab.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](in.CallID))
		tc.WaitAnswered(t)
		peer.WaitConnected(t)
		tc.Heard().WaitTone(t, "trunk", 0, browserToneHz, trunkToneHz)
		tab.ws.HangUp(t, in.CallID)

		// Now the library answers first.
		chromeEval[any](b, "forget the last call", `window.phone.reason = ""; window.phone.state = ""`)
		tc2 := trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
		in2 := tab.ws.ExpectIncoming(t, didAlice)
		phoneReaches(b, "incoming", 15*time.Second)
		chromeEval[any](b, "answer", `window.phone.answer()`)
		tab.ws.ExpectHangup(t, in2.CallID, signaling.ReasonAnsweredElsewhere, 0)
		phoneReaches(b, "confirmed", 15*time.Second)
		tc2.WaitAnswered(t)
		tc2.Heard().WaitTone(t, "trunk", 0, browserToneHz, trunkToneHz)
		b.waitHearsOn("remote-audio", trunkToneHz, browserToneHz, 10*time.Second)
		chromeEval[any](b, "hang up", `window.phone.hangup()`)
		phoneReaches(b, "ended", 10*time.Second)
		tc2.WaitEnded(t, faketrunk.EndByeReceived)
	})
}

// TestSIPWebSocketHold: the library's hold re-INVITE (a=sendonly) is
// answered on the WebRTC leg and puts the trunk on hold with a re-INVITE
// of its own; unhold resumes it, and the trunk hears the library again.
func TestSIPWebSocketHold(t *testing.T) {
	forEachLibrary(t, func(t *testing.T, lib sipLibrary) {
		trunk := faketrunk.New(t)
		e := sipwsGatewayWith(t, trunk.Addr().Port(), trunk)
		b := sipPhone(t, e, lib)

		chromeEval[any](b, "call", `window.phone.call("+15550123")`)
		tc := trunk.WaitCallTo(t, "+15550123")
		phoneReaches(b, "confirmed", 20*time.Second)
		tc.Heard().WaitTone(t, "trunk", 0, browserToneHz, trunkToneHz)

		chromeEval[any](b, "hold", `window.phone.hold(true)`)
		if d := tc.WaitReinvite(t); d.Direction != "sendonly" {
			t.Errorf("hold: the trunk's re-INVITE is %s, want sendonly", d.Direction)
		}
		chromePoll(b, "held", `window.phone.held === true`, phoneState, 10*time.Second)
		chromeEval[any](b, "unhold", `window.phone.hold(false)`)
		if d := tc.WaitReinvite(t); d.Direction != "sendrecv" {
			t.Errorf("unhold: the trunk's re-INVITE is %s, want sendrecv", d.Direction)
		}
		chromePoll(b, "unheld", `window.phone.held === false`, phoneState, 10*time.Second)
		tc.Heard().WaitTone(t, "trunk after unhold", tc.Heard().Len(), browserToneHz, trunkToneHz)
		if st := chromeEval[string](b, "state", `window.phone.state`); st != "confirmed" {
			t.Errorf("after hold and unhold the call is %s (%s), want confirmed", st, chromeEval[string](b, "log", phoneState))
		}
		chromeEval[any](b, "hang up", `window.phone.hangup()`)
		tc.WaitEnded(t, faketrunk.EndByeReceived)
	})
}
