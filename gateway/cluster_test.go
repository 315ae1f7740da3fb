package gateway

import (
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/redistest"
)

// TestSharedLimits: two gateways on one Redis hold a user to one
// concurrent-call limit; while Redis is down the fail-open gateway lets
// calls through and the fail-closed one refuses them with
// limits_unavailable, counted in the metrics and logged; once Redis is
// back both share again.
func TestSharedLimits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	gateway := func(policy string) *env {
		return newEnv(t, testConfig{
			extra: "cluster:\n  redis:\n    url: \"" + srv.URL() + "\"\n    failure_policy: " + policy + "\n    timeout: 300ms\n",
			edit:  func(c *config.Config) { c.Limits = config.Limits{ConcurrentCalls: 1} },
		})
	}
	open, closed := gateway(config.FailOpen), gateway(config.FailClosed)
	a, b := login(t, open, "alice"), login(t, closed, "alice")

	dial(t, a, "a1", "+15550123")
	open.trunk.NextCall(t)
	a.Expect(t, "connected a1", gobrowser.Is[signaling.Connected]("a1"))
	refusedDial(t, closed, b, "b1", "+15550124", signaling.CodeLimitConcurrentCalls)
	hangUp(t, open, a, "a1")
	dial(t, b, "b2", "+15550124")
	closed.trunk.NextCall(t)
	b.Expect(t, "connected b2", gobrowser.Is[signaling.Connected]("b2"))
	hangUp(t, closed, b, "b2")

	srv.Kill()
	refusedDial(t, closed, b, "b3", "+15550124", signaling.CodeLimitsUnavailable)
	closed.logs.WaitLine(t, "shared limits: redis unreachable")
	_, metrics := adminGet(t, closed, "/metrics")
	for _, want := range []string{
		`webtrunk_redis_errors_total{op="begin"} 1`, "webtrunk_redis_up 0",
		`webtrunk_dials_denied_total{reason="limits_unavailable"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	dial(t, a, "a2", "+15550123") // fail open: counted here alone
	open.trunk.NextCall(t)
	a.Expect(t, "connected a2", gobrowser.Is[signaling.Connected]("a2"))
	refusedDial(t, open, a, "a3", "+15550125", signaling.CodeLimitConcurrentCalls)
	hangUp(t, open, a, "a2")

	srv.Start()
	dial(t, b, "b4", "+15550124")
	closed.trunk.NextCall(t)
	b.Expect(t, "connected b4", gobrowser.Is[signaling.Connected]("b4"))
	refusedDial(t, open, a, "a4", "+15550123", signaling.CodeLimitConcurrentCalls)
	if _, metrics := adminGet(t, closed, "/metrics"); !strings.Contains(metrics, "webtrunk_redis_up 1") {
		t.Error("webtrunk_redis_up is not 1 once Redis is back")
	}
}

// hangUp hangs call id of b up and waits until the gateway has given its
// place in the limits back (the "call ended" line follows that).
func hangUp(t *testing.T, e *env, b *gobrowser.Client, id string) {
	t.Helper()
	b.Send(t, signaling.Hangup{CallID: id})
	b.ExpectHangup(t, id, signaling.ReasonLocalHangup, 0)
	e.logs.WaitLine(t, `msg="call ended" call_id=`+id+" ")
}

// TestResumeNamesInstance: with cluster.instance set, resume tokens start
// with the instance's name; a token of another instance is refused with
// resume_failed naming it, and the instance's own token resumes the call.
func TestResumeNamesInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{extra: "cluster:\n  instance: gw-a\n"})
	b := newTab(t, e)
	auth := b.Login(t, "alice", testPassword)
	if !strings.HasPrefix(auth.ResumeToken, "gw-a.") {
		t.Fatalf("resume token %q, want it to start with gw-a.", auth.ResumeToken)
	}
	other := newTab(t, e)
	other.Send(t, signaling.Auth{Version: signaling.Version, User: "alice", ResumeToken: "gw-b." + strings.TrimPrefix(auth.ResumeToken, "gw-a."), Ref: "r"})
	if r := expect[signaling.ErrorReply](t, other); r.Code != signaling.CodeResumeFailed || !strings.Contains(r.Message, "(gw-b)") {
		t.Errorf("resume with another instance's token: %+v", r)
	}
	dialOutConnected(t, e, b)
	b.Close()
	again := newTab(t, e)
	again.Resume(t, "alice", auth.ResumeToken)
}
