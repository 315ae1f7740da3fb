package integration

import (
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestDTMF: digits travel both ways on a call in either direction. From the
// browser they leave as RFC 4733 events sent on the WebRTC leg (as
// RTCDTMFSender does) or as a dtmf message; either way the trunk receives
// them as telephone-events with its own payload type. Digits the trunk
// sends reach the browser as dtmf messages, one per key press.
func TestDTMF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		connect func(t *testing.T, e *env, b *browser) (callID string, peer *browserPeer, tc *trunkCall)
	}{
		{"outbound call", func(t *testing.T, e *env, b *browser) (string, *browserPeer, *trunkCall) {
			c := b.dialConnected(t, numberOK)
			return c.id, c.peer, c.trunk
		}},
		{"inbound call", func(t *testing.T, e *env, b *browser) (string, *browserPeer, *trunkCall) {
			c := b.receiveConnected(t, didAlice)
			return c.id, c.peer, c.trunk
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			b := e.login(t, userAlice)
			id, peer, tc := tt.connect(t, e, b)

			// Browser to trunk, in-band as RTCDTMFSender sends them.
			peer.dtmf.enqueue("159#")
			waitDigits(t, "trunk", &tc.media.digits, "159#", stepTimeout)

			// Browser to trunk, by signaling.
			b.ws.send(t, signaling.DTMF{CallID: id, Digits: "*0A"})
			waitDigits(t, "trunk", &tc.media.digits, "159#*0A", stepTimeout)

			// Trunk to browser.
			tc.media.dtmf.enqueue("72*D")
			var got digitLog
			for range 4 {
				m := b.ws.expect(t, stepTimeout, "dtmf from the trunk", isType(signaling.TypeDTMF)).(signaling.DTMFEvent)
				if m.CallID != id {
					t.Fatalf("dtmf for call %q, want %q", m.CallID, id)
				}
				got.addDigit(m.Digit)
			}
			if got.String() != "72*D" {
				t.Fatalf("browser got digits %q, want %q", got.String(), "72*D")
			}
			// Digits replace audio only while they last.
			stillHearing(t, peer, tc)
		})
	}
}
