package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/internal/testconfig"
	"github.com/webtrunk/webtrunk/transcode"
)

// These tests put sipp in the place of a carrier that uses reliable
// provisional responses (RFC 3262): its reliable 183 with early media is
// acknowledged with PRACK and its audio reaches the browser before any
// answer; the gateway's own 180 is sent reliably to a caller requiring
// 100rel, and refused with 500 when no PRACK ever comes.

// writeToneUL writes seconds of a freq Hz tone as headerless PCMU, the
// format of sipp's rtp_stream.
func writeToneUL(t *testing.T, path string, freq float64, seconds int) {
	t.Helper()
	tone := testaudio.NewTone(freq, 8000, testcodec.ToneAmp)
	pcm := make([]int16, 160)
	out := make([]byte, 0, seconds*8000)
	frame := make([]byte, 160)
	for range seconds * 50 {
		tone.Fill(pcm)
		transcode.EncodePCMU(frame, pcm)
		out = append(out, frame...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// toneFiles gives sipp its tone.ul of trunkToneHz.
func toneFiles(t *testing.T) map[string]func(string) {
	t.Helper()

	return map[string]func(string){"tone.ul": func(p string) { writeToneUL(t, p, trunkToneHz, 10) }}
}

// TestPRACKEarlyMedia: the carrier's 183 requires 100rel; the gateway
// offered 100rel, acknowledges the 183 with one PRACK naming its RSeq and
// the INVITE's CSeq, and the carrier's early media (its tone) reaches the
// browser while the call is in progress. The browser then hangs up, which
// cancels the INVITE.
func TestPRACKEarlyMedia(t *testing.T) {
	t.Parallel()
	uas := runScenario(t, "uas_prack_early.xml", sipp.Options{Files: toneFiles(t)})
	e := startCarrierGateway(t, uas.Port(), 0, "", "    prack: supported")
	b := e.login(t, userAlice)
	id := newCallID()
	peer := newPeer(t)
	b.ws.Dial(t, id, carrierNumber, peer)
	b.ws.Expect(t, "progress", gobrowser.Is[signaling.Progress](id))
	peer.WaitConnected(t)
	peer.Heard().WaitTone(t, "browser, early media", 0, trunkToneHz, browserToneHz)
	b.ws.HangUp(t, id)
	uas.Wait(stepTimeout)

	inv := uas.MustReceive("INVITE ")
	if !strings.Contains(inv.Header("Supported"), "100rel") {
		t.Errorf("INVITE Supported %q, want 100rel", inv.Header("Supported"))
	}
	cseq := strings.Fields(inv.Header("CSeq"))[0]
	pracks := uas.Received("PRACK ", true)
	if len(pracks) == 0 {
		t.Fatal("no PRACK")
	}
	if got, want := pracks[0].Header("RAck"), "1 "+cseq+" INVITE"; got != want {
		t.Errorf("RAck %q, want %q", got, want)
	}
	for _, p := range pracks[1:] {
		if p.Header("Via") != pracks[0].Header("Via") {
			t.Errorf("a second PRACK transaction (%q), want retransmissions of one only", p.Header("Via"))
		}
	}
}

// prackInboundGateway starts a gateway whose trunk sends from 127.0.0.1
// with the given prack setting.
func prackInboundGateway(t *testing.T, prack string) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("carrier", uint16(sipp.FreePort(t)), testconfig.User{ID: userAlice}) //nolint:gosec // a port
	c.Trunk.Extra = "    prack: " + prack

	return startGateway(t, c, logger.With("component", "gateway"), logs)
}

// TestPRACKInbound: a caller requiring 100rel gets a reliable 180 (Require:
// 100rel, RSeq); its PRACK is answered 200 before the browser answers, and
// the call then carries the caller's tone to the browser until the browser
// hangs up.
func TestPRACKInbound(t *testing.T) {
	t.Parallel()
	e := prackInboundGateway(t, "supported")
	b := e.login(t, userAlice)
	uac := runScenario(t, "uac_prack.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice, Files: toneFiles(t)})
	in := b.ws.ExpectIncoming(t, didAlice)
	e.logs.WaitLine(t, "sip reliable 180 acknowledged")
	peer := b.accept(t, in.CallID)
	b.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](in.CallID))
	peer.WaitConnected(t)
	peer.Heard().WaitTone(t, "browser", 0, trunkToneHz, browserToneHz)
	b.ws.HangUp(t, in.CallID)
	uac.Wait(stepTimeout)

	ring := uac.MustReceive("SIP/2.0 180")
	if ring.Header("Require") != "100rel" {
		t.Errorf("180 Require %q, want 100rel", ring.Header("Require"))
	}
	if n, err := strconv.ParseUint(ring.Header("RSeq"), 10, 32); err != nil || n == 0 || n > 1<<31-1 {
		t.Errorf("180 RSeq %q, want 1..2^31-1", ring.Header("RSeq"))
	}
	if allow := ring.Header("Allow"); allow != "" && !strings.Contains(allow, "PRACK") {
		t.Errorf("Allow %q lacks PRACK", allow)
	}
}

// TestPRACKMissing: a caller requiring 100rel never sends PRACK. The
// reliable 180 is retransmitted at doubling intervals, and after 64*T1
// (32 s) the INVITE gets 500 (RFC 3262 section 3); the ringing browser is
// told the call failed.
func TestPRACKMissing(t *testing.T) {
	t.Parallel()
	e := prackInboundGateway(t, "supported")
	b := e.login(t, userAlice)
	uac := runScenario(t, "uac_noprack.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice})
	in := b.ws.ExpectIncoming(t, didAlice)
	uac.Wait(60 * time.Second)
	b.ws.ExpectHangup(t, in.CallID, signaling.ReasonFailed, 0)
	rings := uac.Received("SIP/2.0 180", true)
	if len(rings) < 5 {
		t.Errorf("180 sent %d times, want it retransmitted until 64*T1 (6 times)", len(rings))
	}
	for _, r := range rings {
		if r.Header("RSeq") != rings[0].Header("RSeq") || r.Header("RSeq") == "" {
			t.Errorf("180 RSeq %q, want all %q", r.Header("RSeq"), rings[0].Header("RSeq"))
		}
	}
	if res := uac.MustReceive("SIP/2.0 500"); !strings.Contains(res.Header("Warning"), "PRACK") {
		t.Errorf("500 Warning %q, want it to name the missing PRACK", res.Header("Warning"))
	}
}
