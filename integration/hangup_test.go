package integration

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// TestHangup covers every way a call ends: each must end both legs with
// the right SIP request or response on the trunk and the right reason (and
// SIP status) in the browser's hangup.
func TestHangup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts envOptions
		run  func(t *testing.T, e *env, b *browser)
	}{
		{
			name: "browser hangs up answered call: trunk gets BYE",
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.HangUp(t, c.id)
				c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
			},
		},
		{
			name: "trunk hangs up: browser gets remote_hangup",
			opts: envOptions{trunkPlan: faketrunk.Plan{ByeAfter: 3 * time.Second}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.ExpectHangup(t, c.id, signaling.ReasonRemoteHangup, 0)
				c.trunk.WaitEnded(t, faketrunk.EndByeSent)
				c.peer.States().WaitGone(t)
			},
		},
		{
			name: "browser hangs up while ringing: trunk gets CANCEL",
			opts: envOptions{trunkPlan: faketrunk.Plan{RingForever: true}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.Expect(t, "ringing", gobrowser.Is[signaling.Ringing](c.id))
				b.ws.HangUp(t, c.id)
				c.trunk.WaitEnded(t, faketrunk.EndCancelled)
				e.trunk.WaitRequest(t, sipmsg.CANCEL, c.trunk.CallID())
			},
		},
		{
			name: "trunk cancels inbound call while ringing: browser gets cancelled",
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
				tc.WaitRinging(t)
				in := b.ws.ExpectIncoming(t, didAlice)
				tc.Cancel()
				b.ws.ExpectHangup(t, in.CallID, signaling.ReasonCancelled, 0)
				tc.WaitEnded(t, faketrunk.EndCancelled)
				if tc.FinalCode() != 487 && tc.FinalCode() != 180 && tc.FinalCode() != 183 {
					t.Errorf("cancelled INVITE: final status %d, want 487", tc.FinalCode())
				}
			},
		},
		{
			name: "browser rejects inbound call: trunk gets 603",
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
				in := b.ws.ExpectIncoming(t, didAlice)
				b.ws.Send(t, signaling.Reject{CallID: in.CallID})
				tc.WaitEnded(t, faketrunk.EndRejected)
				if tc.FinalCode() != 603 {
					t.Errorf("rejected call: trunk got %d, want 603", tc.FinalCode())
				}
				b.ws.ExpectHangup(t, in.CallID, signaling.ReasonRejected, 0)
			},
		},
		{
			name: "trunk busy: browser gets busy with sip_code 486",
			opts: envOptions{trunkPlan: faketrunk.Plan{Ring: 200 * time.Millisecond, Reject: 486}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.ExpectHangup(t, c.id, signaling.ReasonBusy, 486)
				c.trunk.WaitEnded(t, faketrunk.EndRejected)
			},
		},
		{
			name: "websocket closed mid-call: trunk gets BYE",
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.CloseWith(websocket.StatusGoingAway)
				c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
				c.peer.States().WaitGone(t)
			},
		},
		{
			name: "websocket dropped mid-call, not resumed: trunk gets BYE after the window",
			opts: envOptions{resumeWindow: 2 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.Close()
				c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
				c.peer.States().WaitGone(t)
			},
		},
		{
			name: "outbound ring timeout: trunk gets CANCEL, browser ring_timeout",
			opts: envOptions{ringTimeout: 5 * time.Second, trunkPlan: faketrunk.Plan{RingForever: true}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.Expect(t, "ringing", gobrowser.Is[signaling.Ringing](c.id))
				start := time.Now()
				b.ws.ExpectHangup(t, c.id, signaling.ReasonRingTimeout, 0)
				if d := time.Since(start); d < 4*time.Second {
					t.Errorf("ring timeout after %v, configured 5s", d)
				}
				c.trunk.WaitEnded(t, faketrunk.EndCancelled)
			},
		},
		{
			name: "inbound ring timeout: trunk gets 480, browser ring_timeout",
			opts: envOptions{ringTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.Dial(t, e.sipAddr, didAlice, faketrunk.DialOptions{})
				in := b.ws.ExpectIncoming(t, didAlice)
				b.ws.ExpectHangup(t, in.CallID, signaling.ReasonRingTimeout, 0)
				tc.WaitEnded(t, faketrunk.EndRejected)
				if tc.FinalCode() != 480 {
					t.Errorf("unanswered inbound call: trunk got %d, want 480", tc.FinalCode())
				}
			},
		},
		{
			name: "browser stops sending: media timeout ends the call with BYE",
			opts: envOptions{mediaTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				c.peer.SetMuted(true)
				b.ws.ExpectHangup(t, c.id, signaling.ReasonMediaTimeout, 0)
				c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
			},
		},
		{
			name: "trunk stops sending: media timeout ends the call with BYE",
			opts: envOptions{mediaTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				c.trunk.Media().SetMuted(true)
				b.ws.ExpectHangup(t, c.id, signaling.ReasonMediaTimeout, 0)
				c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
			},
		},
		{
			name: "gateway shutdown: trunk gets BYE, browser shutdown",
			run: func(t *testing.T, e *env, b *browser) {
				out := b.dialConnected(t, numberOK)
				in := b.receiveConnected(t, didAlice)
				e.cancel() // as SIGTERM does; the grace period is 0
				b.ws.ExpectHangup(t, out.id, signaling.ReasonShutdown, 0)
				b.ws.ExpectHangup(t, in.id, signaling.ReasonShutdown, 0)
				out.trunk.WaitEnded(t, faketrunk.EndByeReceived)
				in.trunk.WaitEnded(t, faketrunk.EndByeReceived)
				if code, err := b.ws.WaitClosed(t); code != websocket.StatusGoingAway {
					t.Errorf("WebSocket closed with status %d (%v) at shutdown, want 1001", code, err)
				}
				e.stop(t) // Run returns, every port is free
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.opts)
			tt.run(t, e, e.login(t, userAlice))
		})
	}
}
