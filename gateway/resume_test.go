package gateway

import (
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// maxResumeGap is the longest interruption of the browser's tone the
// trunk may notice across a dropped and resumed WebSocket.
const maxResumeGap = 200 * time.Millisecond

// resumableCall has alice dial +15550123 as call c1 and returns her tab,
// her peer, the trunk's call and her resume token once the call is
// connected and the trunk hears her tone.
func resumableCall(t *testing.T, e *env) (*gobrowser.Client, *gobrowser.Peer, *faketrunk.Call, string) {
	t.Helper()
	b := newTab(t, e)
	a := b.Login(t, "alice", testPassword)
	if a.ResumeToken == "" || a.ResumeWindow != int(e.cfg.Calls.ResumeWindow/time.Millisecond) {
		t.Fatalf("authenticated without resume token or with window %d ms", a.ResumeWindow)
	}
	p := dial(t, b, "c1", "+15550123")
	tc := e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b)
	tc.Heard().WaitTone(t, "trunk", 0, 440, 1000)

	return b, p, tc, a.ResumeToken
}

// parkedCall is a resumableCall whose WebSocket has dropped and whose
// calls the gateway keeps for resume; it returns the trunk's call and the
// resume token.
func parkedCall(t *testing.T, e *env) (*faketrunk.Call, string) {
	t.Helper()
	b, _, tc, token := resumableCall(t, e)
	b.Close()
	e.logs.WaitLine(t, "calls kept for resume")

	return tc, token
}

// trunkRequests is how many SIP requests the fake trunk has received.
func trunkRequests(e *env) int { return len(e.trunk.Requests("")) }

func TestResumeKeepsCallAcrossDroppedWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, p, tc, token := resumableCall(t, e)
	requests := trunkRequests(e)
	tc.Heard().MarkGap()
	before := len(tc.Media().Packets())

	// The WebSocket dies without a closing handshake; meanwhile the trunk
	// sends a digit, which the browser must get on resume.
	b.Close()
	e.logs.WaitLine(t, "calls kept for resume")
	tc.Media().SendDigits("7")
	mark := tc.Heard().Len()
	tc.Heard().WaitSamples(t, mark+secondOfAudio/2)

	b2 := newTab(t, e)
	a := b2.Resume(t, "alice", token)
	if len(a.Calls) != 1 || a.Calls[0] != (signaling.ResumedCall{CallID: "c1", State: signaling.CallStateConnected}) {
		t.Fatalf("resumed calls %+v, want c1 connected", a.Calls)
	}
	if a.ResumeToken == "" || a.ResumeToken == token {
		t.Fatal("the resume did not rotate the token")
	}
	if d := expect[signaling.DTMFEvent](t, b2); d.Digit != "7" || d.CallID != "c1" {
		t.Fatalf("missed dtmf %+v, want 7 on c1", d)
	}

	// The media never noticed: the tone went on at the trunk without a gap,
	// and the browser hears the trunk's tone.
	mark = tc.Heard().Len()
	testcodec.AssertTone(t, tc.Heard().WaitSamples(t, mark+secondOfAudio)[mark:], 440, 1000)
	// The gap is measured in media time (RTP timestamps), which a busy
	// machine does not stretch; the gap between arrivals is logged.
	if gap, n := testcodec.LongestStep(tc.Media().Packets()[before:], 0, 8000); gap > maxResumeGap || n < 50 {
		t.Errorf("the trunk's stream skipped %v of the browser's tone over %d PCMU packets, want at most %v over a second or more", gap, n, maxResumeGap)
	}
	t.Logf("longest gap between packets at the trunk across the resume: %v", tc.Heard().LongestGap())
	pm := p.Heard().Len()
	testcodec.AssertTone(t, p.Heard().WaitSamples(t, pm+secondOfAudio)[pm:], 1000, 440)
	if n := trunkRequests(e); n != requests {
		t.Errorf("the trunk received %d SIP requests across the resume", n-requests)
	}

	// The resumed tab owns the call: its DTMF and hang-up reach the trunk.
	b2.Send(t, signaling.DTMF{CallID: "c1", Digits: "3"})
	tc.Heard().WaitDigits(t, "3")
	b2.Send(t, signaling.Hangup{CallID: "c1"})
	b2.ExpectHangup(t, "c1", signaling.ReasonLocalHangup, 0)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	if got := testutil.ToFloat64(e.gw.metrics.Resumes.WithLabelValues(resumeOK)); got != 1 {
		t.Error("webtrunk_resumes_total{outcome=resumed} is not 1")
	}
	// Resume tokens are secrets: no log line shows one (pion's debug
	// lines included).
	for _, tok := range []string{token, a.ResumeToken} {
		if lines := e.logs.Lines(tok); len(lines) != 0 {
			t.Errorf("a resume token is logged: %q", lines[0])
		}
	}
}

func TestResumeDeliversHangupMissedWhileDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	tc, token := parkedCall(t, e)
	tc.Bye(t)
	e.logs.WaitLine(t, `msg="call ended"`)

	b2 := newTab(t, e)
	if a := b2.Resume(t, "alice", token); len(a.Calls) != 0 {
		t.Fatalf("resumed calls %+v, want none", a.Calls)
	}
	b2.ExpectHangup(t, "c1", signaling.ReasonRemoteHangup, 0)
}

func TestResumeWindowExpiryEndsCallWithBye(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Calls.ResumeWindow = 2 * time.Second }})
	b, _, tc, token := resumableCall(t, e)
	b.Close()
	start := time.Now()
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("the call ended %v after the drop, before the 2 s window", d)
	}
	e.logs.WaitLine(t, "reason=signaling_lost")
	if n := callsTotal(t, e, directionOutbound, signaling.ReasonSignalingLost); n != 1 {
		t.Errorf("calls ended with signaling_lost: %v, want 1", n)
	}
	b2 := newTab(t, e)
	b2.Send(t, signaling.Auth{Version: signaling.Version, ResumeToken: token})
	if r := expect[signaling.ErrorReply](t, b2); r.Code != signaling.CodeResumeFailed || r.Message != errResumeExpired.Error() {
		t.Errorf("resume after the window: %+v, want resume_failed %q", r, errResumeExpired)
	}
}

func TestResumeRefusalsTouchNoCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	tc, token := parkedCall(t, e)
	requests := trunkRequests(e)

	tests := []struct {
		name, user, token string
		want              error
	}{
		{"unknown token", "alice", alterFirst(token), errResumeUnknown},
		{"another user's token", "bob", token, errResumeOtherUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := newTab(t, e)
			bad.Send(t, signaling.Auth{Version: signaling.Version, User: tt.user, ResumeToken: tt.token, Ref: "r"})
			r := expect[signaling.ErrorReply](t, bad)
			if r.Code != signaling.CodeResumeFailed || r.Message != tt.want.Error() || r.Ref != "r" {
				t.Errorf("reply %+v, want resume_failed %q", r, tt.want)
			}
			// The connection stays open and unauthenticated.
			bad.Send(t, signaling.Ping{Ref: "p"})
			if r := expect[signaling.ErrorReply](t, bad); r.Code != signaling.CodeOutOfOrder {
				t.Errorf("ping after a refused resume: %+v, want out_of_order", r)
			}
		})
	}

	// The rightful owner still resumes, once.
	b2 := newTab(t, e)
	b2.Resume(t, "alice", token)
	b3 := newTab(t, e)
	b3.Send(t, signaling.Auth{Version: signaling.Version, ResumeToken: token})
	if r := expect[signaling.ErrorReply](t, b3); r.Code != signaling.CodeResumeFailed || r.Message != errResumeUsed.Error() {
		t.Errorf("second use of a token: %+v, want resume_failed %q", r, errResumeUsed)
	}
	if _, ended := tc.Ended(); ended || trunkRequests(e) != requests {
		t.Error("a refused resume touched the trunk's call")
	}
}

// alterFirst returns token with its first character replaced by another
// one, so that it is never the token itself (a fixed replacement equals
// the original whenever the token happens to start with it).
func alterFirst(token string) string {
	c := byte('x')
	if token[0] == c {
		c = 'y'
	}

	return string(c) + token[1:]
}

func TestResumeTakesOverLiveConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	// The browser's network changed: its old WebSocket still looks alive
	// to the gateway when the new one resumes.
	b, _, tc, token := resumableCall(t, e)
	b2 := newTab(t, e)
	a := b2.Resume(t, "alice", token)
	if len(a.Calls) != 1 || a.Calls[0].CallID != "c1" {
		t.Fatalf("resumed calls %+v, want c1", a.Calls)
	}
	if _, err := b.WaitClosed(t); err == nil {
		t.Error("the old connection stayed open after its calls moved")
	}
	tc.Media().SendDigits("9")
	if d := expect[signaling.DTMFEvent](t, b2); d.Digit != "9" {
		t.Fatalf("dtmf %+v, want 9", d)
	}
	if _, ended := tc.Ended(); ended {
		t.Fatal("the call ended when the old connection closed")
	}
	if n := len(e.trunk.Requests(sipmsg.BYE)); n != 0 {
		t.Errorf("the trunk received %d BYE", n)
	}
}

func TestResumeOffEndsCallsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Calls.ResumeWindow = 0 }})
	b := newTab(t, e)
	if a := b.Login(t, "alice", testPassword); a.ResumeToken != "" || a.ResumeWindow != 0 {
		t.Fatalf("resume token %q window %d with resuming off", a.ResumeToken, a.ResumeWindow)
	}
	dial(t, b, "c1", "+15550123")
	tc := e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b)
	b.Close()
	tc.WaitEnded(t, faketrunk.EndByeReceived)
}

func TestResumeNeverWaitsForPasswordChecks(t *testing.T) {
	t.Parallel()
	// Bob's password is hashed at a cost that takes this machine a good
	// fraction of a second to check: his login is still being checked
	// when Alice, from the same address, resumes.
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, testConfig{edit: func(c *config.Config) {
		for i := range c.Auth.Users {
			if c.Auth.Users[i].ID == "bob" {
				c.Auth.Users[i].PasswordHash = config.NewSecret(string(hash))
			}
		}
	}})
	_, token := parkedCall(t, e)

	bob, alice := newTab(t, e), newTab(t, e)
	start := time.Now()
	bob.Send(t, signaling.Auth{Version: signaling.Version, User: "bob", Password: testPassword})
	alice.Resume(t, "alice", token)
	resumed := time.Since(start)
	bob.Expect(t, "bob's login", func(m signaling.Message) bool { return m.MessageType() == signaling.TypeAuthenticated })
	checked := time.Since(start)
	t.Logf("bob's password login answered after %v; alice resumed after %v", checked.Round(time.Millisecond), resumed.Round(time.Millisecond))
	if resumed >= checked {
		t.Errorf("the resume took %v, no less than the password check in progress (%v): it waited for bcrypt", resumed, checked)
	}
}
