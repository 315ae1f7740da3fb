package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// These tests drive the softphone page the gateway serves, in headless
// Chromium with a fake microphone playing browserToneHz, against real SIP
// software on the trunk side: sipp (Debian package sip-tester) and baresip
// (baresip-core). Audio is checked by frequency where it is heard: in the
// page (WebAudio on the <audio> element's stream), in sipp's place on a
// socket of the test, or in baresip's recording.

// browserScreenshotPath is the test artifact (git-ignored); docs/softphone.png
// is the committed copy, rewritten when WEBTRUNK_UPDATE_SCREENSHOT=1.
const browserScreenshotPath = "artifacts/softphone-connected.png"

// browserDemoNumber is what the tests dial: a +1555 number, written the way
// a person types it.
const browserDemoNumber = "+1 555 0123"

// TestBrowserDialsSippEcho: the page calls a number through the gateway to
// a sipp UAS that echoes RTP; the page must hear its own tone back, which
// crossed Opus -> G.711 on the way out and G.711 -> Opus on the way back,
// and silence while it is muted. The screenshot of the connected call is
// taken here.
func TestBrowserDialsSippEcho(t *testing.T) {
	uas := startSipp(t, "uas_answer.xml", sipp.Options{Echo: true}, 0)
	gw := browserStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uas.Port()))) //nolint:gosec // a port
	b := browserStart(t, browserToneHz)
	b.login(gw.pageURL(), userAlice, testPassword)

	b.dial(browserDemoNumber)
	b.waitState("connected", 20*time.Second)
	if got := b.text("peer"); got != "+15550123" {
		t.Errorf("the page shows the call with %q, want +15550123", got)
	}
	rep := b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)
	t.Logf("page hears its echo: rms %.0f, share at %d Hz %.2f", rep.RMS, browserToneHz, rep.Want)

	// Let the timer and the level meter move before the picture.
	time.Sleep(2 * time.Second)
	if timer := b.text("timer"); timer == "00:00" {
		t.Errorf("call timer still shows %s two seconds into the call", timer)
	}
	b.screenshot(browserScreenshotPath)
	if os.Getenv("WEBTRUNK_UPDATE_SCREENSHOT") == "1" {
		b.screenshot(filepath.Join("..", "docs", "softphone.png"))
	}

	// Muted, the page sends silence, so its echo goes quiet; unmuted, the
	// tone comes back.
	b.click("mute")
	b.waitQuiet(5 * time.Second)
	if got := b.text("mute"); got != "Unmute" {
		t.Errorf("mute button reads %q while muted, want Unmute", got)
	}
	b.click("mute")
	b.waitHears(browserToneHz, trunkToneHz, 5*time.Second)

	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	if got := b.text("status"); got != "Call ended." {
		t.Errorf("status after hanging up %q, want %q", got, "Call ended.")
	}
	uas.Wait(stepTimeout)
}

// TestBrowserAnswersSippCall: a sipp UAC calls the DID routed to the
// signed-in user; the page rings with the caller's number, the test clicks
// Accept, audio flows both ways (sipp echoes the page's tone), and when sipp
// hangs up the page shows that the other party ended the call.
func TestBrowserAnswersSippCall(t *testing.T) {
	gw := browserStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipp.FreePort(t)))) //nolint:gosec // a port
	b := browserStart(t, browserToneHz)
	b.login(gw.pageURL(), userAlice, testPassword)

	uac := startSipp(t, "uac_did.xml", sipp.Options{Remote: gw.sipAddr.String(), Service: didAlice, Echo: true}, 0)
	b.waitState("incoming", 15*time.Second)
	if from := b.text("incoming-from"); !strings.Contains(from, "+15551230000") {
		t.Errorf("incoming call shows caller %q, want it to contain +15551230000", from)
	}
	b.click("accept")
	b.waitState("connected", 15*time.Second)
	rep := b.waitHears(browserToneHz, trunkToneHz, 6*time.Second)
	t.Logf("page hears its tone echoed by the caller: rms %.0f, share %.2f", rep.RMS, rep.Want)

	// sipp hangs up 8 s after its ACK.
	b.waitState("idle", 20*time.Second)
	if got := b.text("status"); got != "The other party hung up." {
		t.Errorf("status after the caller hung up %q, want %q", got, "The other party hung up.")
	}
	uac.Wait(stepTimeout)
}

// TestBrowserCallsBaresip: the page calls a baresip phone that answers by
// itself and plays trunkToneHz; the page must hear that tone, and baresip's
// recording of the call must hold the page's browserToneHz.
func TestBrowserCallsBaresip(t *testing.T) {
	phone := baresipStart(t, "+15550123", trunkToneHz)
	gw := browserStartGateway(t, phone.sipAddr)
	b := browserStart(t, browserToneHz)
	b.login(gw.pageURL(), userAlice, testPassword)

	b.dial(browserDemoNumber)
	phone.waitEvent(t, "CALL_ESTABLISHED", 20*time.Second)
	b.waitState("connected", 10*time.Second)
	rep := b.waitHears(trunkToneHz, browserToneHz, 15*time.Second)
	t.Logf("page hears baresip: rms %.0f, share at %d Hz %.2f", rep.RMS, trunkToneHz, rep.Want)
	time.Sleep(3 * time.Second) // give baresip's recording a few seconds of the call

	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	phone.waitEvent(t, "CALL_CLOSED", 10*time.Second)
	phone.stop(t)

	// At least 2 s of the recording must carry the page's tone.
	passing := phone.heardTone(t, browserToneHz, trunkToneHz, 2*time.Second)
	t.Logf("baresip heard the page's tone in %d windows of %v", passing, ear.AnalysisWindow)
}

// TestBrowserDTMFReachesSIP: digits pressed on the page's keypad during a
// call leave the gateway on the SIP side as RFC 4733 telephone-events, in
// order, each once; the same leg carries the page's tone as PCMU.
func TestBrowserDTMFReachesSIP(t *testing.T) {
	const sippEventPT = 101 // telephone-event/8000 in uas_answer.xml
	const digits = "159#*0"
	media := faketrunk.NewMedia(t, trunkToneHz) // records; sends nothing
	uas := startSipp(t, "uas_answer.xml", sipp.Options{}, int(media.Addr().Port()))
	gw := browserStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uas.Port()))) //nolint:gosec // a port
	b := browserStart(t, browserToneHz)
	b.login(gw.pageURL(), userAlice, testPassword)

	b.dial(browserDemoNumber)
	b.waitState("connected", 20*time.Second)
	media.Heard().WaitTone(t, "the SIP side", 0, browserToneHz, trunkToneHz)
	for _, d := range digits {
		b.run(5*time.Second, "press "+string(d),
			chromedp.Click(chromedp.CSS(`#keypad button[data-key="`+string(d)+`"]`)))
		time.Sleep(250 * time.Millisecond) // a person's pace; each tone lasts 100 ms
	}
	media.Heard().WaitDigits(t, digits)
	// Every packet the trunk received makes well-formed RFC 4733 events:
	// a marked start, updates and three ends, at the 100 ms the page
	// asks RTCDTMFSender for (up to one 20 ms packet more).
	events := testcodec.WaitWellFormedEvents(t, media.WaitPackets, sippEventPT)
	var got []rune
	for _, e := range events {
		got = append(got, e.Digit)
		if e.Duration < 800 || e.Duration > 960 || e.Packets < 3+testcodec.EndPackets {
			t.Errorf("event %+v: want 800 to 960 samples (100 to 120 ms at 8 kHz) in a start, updates and %d ends", e, testcodec.EndPackets)
		}
	}
	if string(got) != digits {
		t.Errorf("the trunk received events %q, want %q", string(got), digits)
	}
	t.Logf("the trunk received %d well-formed events: %+v", len(events), events)
	if shown := b.text("sent-digits"); shown != digits {
		t.Errorf("the page shows sent digits %q, want %q", shown, digits)
	}

	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	uas.Wait(stepTimeout)
}

// TestBrowserShowsErrors: what a person sees when sign-in or a call is
// refused, in words rather than codes.
func TestBrowserShowsErrors(t *testing.T) {
	gw := browserStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipp.FreePort(t)))) //nolint:gosec // a port
	b := browserStart(t, browserToneHz)

	t.Run("wrong password", func(t *testing.T) {
		b.run(20*time.Second, "sign in with a wrong password",
			chromedp.Navigate(gw.pageURL()),
			chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SetValue(chromedp.ID("user"), userAlice),
			chromedp.SetValue(chromedp.ID("password"), "not the password"),
			chromedp.Click(chromedp.ID("login-button")),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		if got := b.text("error"); !strings.HasPrefix(got, "Sign-in failed") {
			t.Errorf("error shown %q, want a sign-in failure", got)
		}
		b.waitState("signed-out", time.Second)
	})
	t.Run("refused origin", func(t *testing.T) {
		// A page of another origin (another port) that the gateway's
		// http.allowed_origins does not list.
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><title>another site</title>"))
		}))
		t.Cleanup(page.Close)
		b.run(20*time.Second, "open a page of another origin", chromedp.Navigate(page.URL))
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(async () => {
			const { Device, describeError } = await import(`+jsString(gw.pageURL()+"webtrunk.js")+`);
			const device = new Device({ url: `+jsString(gw.wsURL())+`, user: "alice", password: "x", reconnect: false });
			try {
				await device.connect();
				return { code: "connected" };
			} catch (err) {
				return { code: err.code, text: describeError(err) };
			}
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got["code"] != "origin_not_allowed" || !strings.HasPrefix(got["text"], "This page's origin is not allowed") {
			t.Errorf("connect from a refused origin: %v, want origin_not_allowed with its text", got)
		}
		gw.logs.WaitLine(t, "websocket refused: origin not allowed")
	})
	t.Run("forbidden number", func(t *testing.T) {
		b.login(gw.pageURL(), userAlice, testPassword)
		b.dial(numberDenied)
		b.waitState("idle", 15*time.Second)
		if got := b.text("error"); got != "You are not allowed to call this number." {
			t.Errorf("error shown %q", got)
		}
	})
}
