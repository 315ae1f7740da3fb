package integration

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// discardLogger drops every record; the harness's own tests need no logs.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFakeTrunkSelf runs the fake trunk's UAC against its UAS, so that a
// failing end-to-end test can be blamed on the gateway, not on the harness.
func TestFakeTrunkSelf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		plan   uasPlan
		check  func(t *testing.T, caller, callee *trunkCall)
		ending string
	}{
		{
			name: "answer with audio both ways, caller hangs up",
			plan: uasPlan{ringFor: 100 * time.Millisecond},
			check: func(t *testing.T, caller, callee *trunkCall) {
				caller.waitAnswered(t, 5*time.Second)
				// Both ends play the same trunk tone; each must hear it.
				waitTone(t, "callee", callee.media.heard, 0, trunkToneHz, browserToneHz)
				waitTone(t, "caller", caller.media.heard, 0, trunkToneHz, browserToneHz)
				caller.media.dtmf.enqueue("19#")
				waitDigits(t, "callee", &callee.media.digits, "19#", 5*time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := caller.bye(ctx); err != nil {
					t.Fatal(err)
				}
				callee.waitEnded(t, endByeReceived, 5*time.Second)
			},
		},
		{
			name: "callee rejects busy",
			plan: uasPlan{ringFor: 50 * time.Millisecond, reject: 486},
			check: func(t *testing.T, caller, callee *trunkCall) {
				caller.waitEnded(t, endRejected, 5*time.Second)
				if caller.finalCode != 486 {
					t.Fatalf("caller got final status %d, want 486", caller.finalCode)
				}
			},
		},
		{
			name: "caller cancels while ringing",
			plan: uasPlan{noAnswer: true},
			check: func(t *testing.T, caller, callee *trunkCall) {
				callee.trunk.waitRequest(t, sipmsg.INVITE, caller.callID, 5*time.Second)
				caller.waitRinging(t, 5*time.Second)
				caller.cancel()
				callee.waitEnded(t, endCancelled, 5*time.Second)
				caller.waitEnded(t, endCancelled, 5*time.Second)
				callee.trunk.waitRequest(t, sipmsg.CANCEL, caller.callID, 5*time.Second)
			},
		},
		{
			name: "callee hangs up",
			plan: uasPlan{byeAfter: 300 * time.Millisecond},
			check: func(t *testing.T, caller, callee *trunkCall) {
				caller.waitAnswered(t, 5*time.Second)
				caller.waitEnded(t, endByeReceived, 5*time.Second)
				callee.waitEnded(t, endByeSent, 5*time.Second)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			callee := newFakeTrunk(t, discardLogger(), tt.plan)
			caller := newFakeTrunk(t, discardLogger(), uasPlan{})
			out := caller.dial(t, callee.addr.String(), "+15550100", callOptions{})
			in := callee.nextCall(t, 5*time.Second)
			if in.number != "+15550100" {
				t.Fatalf("callee saw number %q", in.number)
			}
			tt.check(t, out, in)
		})
	}
}
