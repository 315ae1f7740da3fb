package gateway

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// TestTransferBridge: on a trunk that takes no REFER (transfer: bridge)
// the gateway carries out the browser's transfer itself. It calls the
// target through the number's route with the user's caller ID; once the
// target answers the browser's call ends with reason transferred, the
// call's party and the target hear each other (each hears the other's
// 1000 Hz, no longer the browser's 440 Hz), nothing is sent as a REFER,
// and when the party hangs up the target gets a BYE. A busy target is
// reported to the browser as transfer_failed and the call goes on. A user
// allowed one call at a time may transfer it.
func TestTransferBridge(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Trunks[0].Transfer = config.TransferBridge }})
		b, _, party := callUp(t, e)
		party.Heard().WaitTone(t, "the party, from the browser", 0, 440, faketrunk.DefaultToneHz)
		b.Send(t, signaling.Transfer{CallID: "c1", To: "+15550199", Ref: "t1"})
		target := e.trunk.WaitCallTo(t, "+15550199")
		if from := target.Invite().From().Address.User; !strings.Contains(from, "15550100") {
			t.Errorf("the target's INVITE is from %q, want alice's caller ID", from)
		}
		if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonTransferred || h.CallID != "c1" {
			t.Fatalf("hangup %+v, want c1 transferred", h)
		}
		mark := party.Heard().Len()
		party.Heard().WaitTone(t, "the party, from the target", mark, faketrunk.DefaultToneHz, 440)
		target.Heard().WaitTone(t, "the target, from the party", 0, faketrunk.DefaultToneHz, 440)
		if n := len(e.trunk.Requests(sipmsg.REFER)); n != 0 {
			t.Errorf("trunk got %d REFERs, want none", n)
		}
		party.Bye(t)
		target.WaitEnded(t, faketrunk.EndByeReceived)
		line := e.logs.WaitLine(t, `msg="call ended"`)
		if !strings.Contains(line, ">+15550199:answered") || !strings.Contains(line, "reason=remote_hangup") {
			t.Errorf("call ended line %q, want the transfer's attempt and the party's hangup", line)
		}
		t.Log(line)
	})
	t.Run("one call allowed", func(t *testing.T) {
		// With limits.concurrent_calls 1 the user may still transfer her
		// one call: the transfer replaces it. The transferred call stays
		// hers: another dial meanwhile is over the limit.
		e := newEnv(t, testConfig{edit: func(c *config.Config) {
			c.Trunks[0].Transfer = config.TransferBridge
			c.Limits = config.Limits{ConcurrentCalls: 1}
		}})
		b, _, party := callUp(t, e)
		b.Send(t, signaling.Transfer{CallID: "c1", To: "+15550199", Ref: "t1"})
		target := e.trunk.WaitCallTo(t, "+15550199")
		if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonTransferred {
			t.Fatalf("hangup %+v, want transferred", h)
		}
		refusedDial(t, e, b, "c2", "+15550124", signaling.CodeLimitConcurrentCalls)
		target.Bye(t)
		party.WaitEnded(t, faketrunk.EndByeReceived)
	})
	t.Run("target busy", func(t *testing.T) {
		e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Trunks[0].Transfer = config.TransferBridge }})
		e.trunk.SetPlanFor("+15550199", faketrunk.Plan{Reject: 486})
		b, _, party := callUp(t, e)
		b.Send(t, signaling.Transfer{CallID: "c1", To: "+15550199", Ref: "t1"})
		m := expect[signaling.ErrorReply](t, b)
		if m.Code != signaling.CodeTransferFailed || m.Ref != "t1" || !strings.Contains(m.Message, "486") {
			t.Errorf("reply %+v, want transfer_failed t1 naming 486", m)
		}
		// The call goes on with its audio.
		mark := party.Heard().Len()
		party.Heard().WaitTone(t, "the party after the failed transfer", mark, 440, faketrunk.DefaultToneHz)
		party.Bye(t)
		if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
			t.Fatalf("hangup %+v, want remote_hangup", h)
		}
	})
}
