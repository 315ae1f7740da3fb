package integration

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
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
				b.ws.send(t, signaling.Hangup{CallID: c.id})
				b.ws.expectHangup(t, c.id, signaling.ReasonLocalHangup, 0, stepTimeout)
				c.trunk.waitEnded(t, endByeReceived, stepTimeout)
			},
		},
		{
			name: "trunk hangs up: browser gets remote_hangup",
			opts: envOptions{trunkPlan: uasPlan{byeAfter: 3 * time.Second}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.expectHangup(t, c.id, signaling.ReasonRemoteHangup, 0, stepTimeout)
				c.trunk.waitEnded(t, endByeSent, stepTimeout)
				waitPeerClosed(t, c.peer)
			},
		},
		{
			name: "browser hangs up while ringing: trunk gets CANCEL",
			opts: envOptions{trunkPlan: uasPlan{noAnswer: true}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.expect(t, stepTimeout, "ringing", isRinging(c.id))
				b.ws.send(t, signaling.Hangup{CallID: c.id})
				b.ws.expectHangup(t, c.id, signaling.ReasonLocalHangup, 0, stepTimeout)
				c.trunk.waitEnded(t, endCancelled, stepTimeout)
				e.trunk.waitRequest(t, sipmsg.CANCEL, c.trunk.callID, stepTimeout)
			},
		},
		{
			name: "trunk cancels inbound call while ringing: browser gets cancelled",
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.dial(t, e.sipAddr.String(), didAlice, callOptions{})
				tc.waitRinging(t, stepTimeout)
				in := b.expectIncoming(t, didAlice)
				tc.cancel()
				b.ws.expectHangup(t, in.CallID, signaling.ReasonCancelled, 0, stepTimeout)
				tc.waitEnded(t, endCancelled, stepTimeout)
				if tc.finalCode != 487 && tc.finalCode != 180 && tc.finalCode != 183 {
					t.Errorf("cancelled INVITE: final status %d, want 487", tc.finalCode)
				}
			},
		},
		{
			name: "browser rejects inbound call: trunk gets 603",
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.dial(t, e.sipAddr.String(), didAlice, callOptions{})
				in := b.expectIncoming(t, didAlice)
				b.ws.send(t, signaling.Reject{CallID: in.CallID})
				tc.waitEnded(t, endRejected, stepTimeout)
				if tc.finalCode != 603 {
					t.Errorf("rejected call: trunk got %d, want 603", tc.finalCode)
				}
				b.ws.expectHangup(t, in.CallID, signaling.ReasonRejected, 0, stepTimeout)
			},
		},
		{
			name: "trunk busy: browser gets busy with sip_code 486",
			opts: envOptions{trunkPlan: uasPlan{ringFor: 200 * time.Millisecond, reject: 486}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.expectHangup(t, c.id, signaling.ReasonBusy, 486, stepTimeout)
				c.trunk.waitEnded(t, endRejected, stepTimeout)
			},
		},
		{
			name: "websocket closed mid-call: trunk gets BYE",
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				b.ws.close()
				c.trunk.waitEnded(t, endByeReceived, stepTimeout)
				waitPeerClosed(t, c.peer)
			},
		},
		{
			name: "outbound ring timeout: trunk gets CANCEL, browser ring_timeout",
			opts: envOptions{ringTimeout: 5 * time.Second, trunkPlan: uasPlan{noAnswer: true}},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dial(t, numberOK)
				b.ws.expect(t, stepTimeout, "ringing", isRinging(c.id))
				start := time.Now()
				b.ws.expectHangup(t, c.id, signaling.ReasonRingTimeout, 0, 5*time.Second+stepTimeout)
				if d := time.Since(start); d < 4*time.Second {
					t.Errorf("ring timeout after %v, configured 5s", d)
				}
				c.trunk.waitEnded(t, endCancelled, stepTimeout)
			},
		},
		{
			name: "inbound ring timeout: trunk gets 480, browser ring_timeout",
			opts: envOptions{ringTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				tc := e.trunk.dial(t, e.sipAddr.String(), didAlice, callOptions{})
				in := b.expectIncoming(t, didAlice)
				b.ws.expectHangup(t, in.CallID, signaling.ReasonRingTimeout, 0, 5*time.Second+stepTimeout)
				tc.waitEnded(t, endRejected, stepTimeout)
				if tc.finalCode != 480 {
					t.Errorf("unanswered inbound call: trunk got %d, want 480", tc.finalCode)
				}
			},
		},
		{
			name: "browser stops sending: media timeout ends the call with BYE",
			opts: envOptions{mediaTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				c.peer.muted.Store(true)
				b.ws.expectHangup(t, c.id, signaling.ReasonMediaTimeout, 0, 5*time.Second+stepTimeout)
				c.trunk.waitEnded(t, endByeReceived, stepTimeout)
			},
		},
		{
			name: "trunk stops sending: media timeout ends the call with BYE",
			opts: envOptions{mediaTimeout: 5 * time.Second},
			run: func(t *testing.T, e *env, b *browser) {
				c := b.dialConnected(t, numberOK)
				c.trunk.media.muted.Store(true)
				b.ws.expectHangup(t, c.id, signaling.ReasonMediaTimeout, 0, 5*time.Second+stepTimeout)
				c.trunk.waitEnded(t, endByeReceived, stepTimeout)
			},
		},
		{
			name: "gateway shutdown: trunk gets BYE, browser shutdown",
			run: func(t *testing.T, e *env, b *browser) {
				out := b.dialConnected(t, numberOK)
				in := b.receiveConnected(t, didAlice)
				e.cancel() // as SIGTERM does; the grace period is 0
				b.ws.expectHangup(t, out.id, signaling.ReasonShutdown, 0, stepTimeout)
				b.ws.expectHangup(t, in.id, signaling.ReasonShutdown, 0, stepTimeout)
				out.trunk.waitEnded(t, endByeReceived, stepTimeout)
				in.trunk.waitEnded(t, endByeReceived, stepTimeout)
				if code, err := b.ws.waitClosed(t, stepTimeout); code != websocket.StatusGoingAway {
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

// waitPeerClosed waits until the gateway closed its side of the browser's
// PeerConnection (DTLS close_notify or ICE loss), so that no media is left
// flowing to a browser whose call ended.
func waitPeerClosed(t *testing.T, p *browserPeer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	select {
	case <-p.failed:
	case <-p.disconnected:
	case <-ctx.Done():
		t.Fatalf("browser PeerConnection still %s after the call ended", p.pc.ConnectionState())
	}
}
