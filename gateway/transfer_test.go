package gateway

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestTransferRefusals: a transfer is checked before anything reaches the
// trunk, and each refusal leaves the call up: a trunk with transfer off,
// an unknown call, a number outside alice's dial rules, a number over her
// calls-per-minute limit (the call itself was the first). On a trunk that
// answers the REFER with a failure, the browser gets transfer_failed with
// the status and the call goes on.
func TestTransferRefusals(t *testing.T) {
	tests := []struct {
		name   string
		refer  bool
		limit  int // limits.calls_per_minute; 0: none
		callID string
		to     string
		code   signaling.Code
		msg    string
		refers int // REFERs the trunk receives
	}{
		{name: "trunk transfer off", callID: "c1", to: "+15550199", code: signaling.CodeTransferNotAllowed},
		{name: "unknown call", refer: true, callID: "c9", to: "+15550199", code: signaling.CodeNotFound},
		{name: "forbidden number", refer: true, callID: "c1", to: "+15559990000", code: signaling.CodeForbiddenNumber},
		{name: "over the calls per minute", refer: true, limit: 1, callID: "c1", to: "+15550199", code: signaling.CodeLimitCallsPerMinute},
		{name: "trunk refuses the REFER", refer: true, callID: "c1", to: "+15550199", code: signaling.CodeTransferFailed, msg: "refused the transfer", refers: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{edit: func(c *config.Config) {
				if tt.refer {
					c.Trunks[0].Transfer = config.TransferRefer
				}
				c.Limits.CallsPerMinute = tt.limit
			}})
			b, _, tc := callUp(t, e)
			b.Send(t, signaling.Transfer{CallID: tt.callID, To: tt.to, Ref: "x"})
			m := expect[signaling.ErrorReply](t, b)
			if m.Code != tt.code || m.Ref != "x" || m.CallID != tt.callID || !strings.Contains(m.Message, tt.msg) {
				t.Errorf("reply %+v, want code %s ref x call %s naming %q", m, tt.code, tt.callID, tt.msg)
			}
			if n := len(e.trunk.Requests(sipmsg.REFER)); n != tt.refers {
				t.Errorf("trunk got %d REFERs, want %d", n, tt.refers)
			}
			// The call goes on: the trunk's BYE ends it as a remote hangup.
			tc.Bye(t)
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
				t.Fatalf("hangup %+v, want remote_hangup", h)
			}
		})
	}
}
