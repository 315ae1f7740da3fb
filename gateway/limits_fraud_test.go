package gateway

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/fraud"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// refusedDial sends a dial and expects the error code want for it, with
// nothing sent to the trunk.
func refusedDial(t *testing.T, e *env, b *gobrowser.Client, id, to string, want signaling.Code) {
	t.Helper()
	invites := inviteCallIDs(e)
	b.Send(t, signaling.Dial{ID: id, To: to, SDP: offer(t), Ref: id})
	if r := expect[signaling.ErrorReply](t, b); r.Code != want || r.CallID != id {
		t.Fatalf("dial %s to %s: %+v, want %s", id, to, r, want)
	}
	if n := inviteCallIDs(e); n != invites {
		t.Errorf("the trunk got an INVITE for a refused dial")
	}
}

// inviteCallIDs counts the distinct calls the trunk was sent an INVITE
// for (retransmissions counted once).
func inviteCallIDs(e *env) int {
	ids := map[string]bool{}
	for _, r := range e.trunk.Requests(sipmsg.INVITE) {
		ids[r.CallID().Value()] = true
	}

	return len(ids)
}

// TestFraudLimits: each fraud limit refuses the dial past it with its
// own code, a call record and a count in the metrics; the call duration
// limits end a call at its limit; the counts survive a reload.
func TestFraudLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits config.Limits
		run    func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code
	}{
		{"calls per minute", config.Limits{CallsPerMinute: 2}, func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code {
			for _, id := range []string{"c1", "c2"} {
				dial(t, b, id, "+15550123")
				e.trunk.NextCall(t)
				b.Expect(t, "connected "+id, gobrowser.Is[signaling.Connected](id))
				b.Send(t, signaling.Hangup{CallID: id})
				b.ExpectHangup(t, id, signaling.ReasonLocalHangup, 0)
			}
			// The counts outlive a reload.
			if _, err := e.gw.Reload(e.gw.policy().cfg); err != nil {
				t.Fatal(err)
			}
			refusedDial(t, e, b, "c3", "+15550123", signaling.CodeLimitCallsPerMinute)

			return signaling.CodeLimitCallsPerMinute
		}},
		{"concurrent calls", config.Limits{ConcurrentCalls: 1}, func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code {
			dial(t, b, "c1", "+15550123")
			e.trunk.NextCall(t)
			b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
			refusedDial(t, e, b, "c2", "+15550124", signaling.CodeLimitConcurrentCalls)

			return signaling.CodeLimitConcurrentCalls
		}},
		{"prefix", config.Limits{Prefixes: []config.PrefixLimit{{Prefix: "+1555012", MaxConcurrent: 1}}},
			func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code {
				dial(t, b, "c1", "+15550123")
				e.trunk.NextCall(t)
				b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
				refusedDial(t, e, b, "c2", "+15550124", signaling.CodeLimitPrefix)
				dial(t, b, "c3", "+15550200") // another prefix
				e.trunk.NextCall(t)

				return signaling.CodeLimitPrefix
			}},
		{"daily minutes", config.Limits{DailyMinutes: 1}, func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code {
			// 59.5 s of today's minute are used: the next call is cut
			// half a second after its answer, then no dial is allowed.
			used, _ := e.gw.counter.Begin("alice", "+15550123", fraud.Limits{}, time.Now())
			e.gw.counter.End(used, 59500*time.Millisecond, time.Now())
			dial(t, b, "c1", "+15550123")
			e.trunk.NextCall(t)
			b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
			answered := time.Now()
			b.ExpectHangup(t, "c1", signaling.ReasonMaxDuration, 0)
			if d := time.Since(answered); d > 5*time.Second {
				t.Errorf("the call lasted %v past the day's last half second", d)
			}
			refusedDial(t, e, b, "c2", "+15550123", signaling.CodeLimitDailyMinutes)

			return signaling.CodeLimitDailyMinutes
		}},
		{"max call duration", config.Limits{MaxCallDuration: 500 * time.Millisecond}, func(t *testing.T, e *env, b *gobrowser.Client) signaling.Code {
			dial(t, b, "c1", "+15550123")
			e.trunk.NextCall(t)
			b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
			b.ExpectHangup(t, "c1", signaling.ReasonMaxDuration, 0)

			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cdr.jsonl")
			e := newEnv(t, testConfig{extra: "cdr:\n  file: " + path + "\n", edit: func(c *config.Config) { c.Limits = tc.limits }})
			b := login(t, e, "alice")
			code := tc.run(t, e, b)
			if code == "" {
				return
			}
			_, metrics := adminGet(t, e, "/metrics")
			if want := `webtrunk_dials_denied_total{reason="` + string(code) + `"} 1`; !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
			waitRecord(t, path, func(r cdr.Record) bool { return r.Reason == string(code) && r.User == "alice" })
		})
	}
}
