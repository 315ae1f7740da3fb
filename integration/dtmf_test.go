package integration

import (
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
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
		connect func(t *testing.T, b *browser) *testCall
	}{
		{"outbound call", func(t *testing.T, b *browser) *testCall { return b.dialConnected(t, numberOK) }},
		{"inbound call", func(t *testing.T, b *browser) *testCall { return b.receiveConnected(t, didAlice) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			b := e.login(t, userAlice)
			c := tt.connect(t, b)
			id, peer, tc := c.id, c.peer, c.trunk

			// Browser to trunk, in-band as RTCDTMFSender sends them.
			peer.SendDigits("159#")
			tc.Heard().WaitDigits(t, "159#")

			// Browser to trunk, by signaling.
			b.ws.Send(t, signaling.DTMF{CallID: id, Digits: "*0A"})
			tc.Heard().WaitDigits(t, "159#*0A")

			// Trunk to browser.
			tc.Media().SendDigits("72*D")
			if got := expectDigits(t, b, id, 4); got != "72*D" {
				t.Fatalf("browser got digits %q, want %q", got, "72*D")
			}
			// Digits replace audio only while they last.
			stillHearing(t, peer, tc)
		})
	}
}

// expectDigits reads the next n dtmf messages b gets, which must be of
// call id, and returns their digits in order.
func expectDigits(t *testing.T, b *browser, id string, n int) string {
	t.Helper()
	var got string
	for range n {
		m := b.ws.Expect(t, "dtmf from the trunk", gobrowser.IsType(signaling.TypeDTMF)).(signaling.DTMFEvent)
		if m.CallID != id {
			t.Fatalf("dtmf for call %q, want %q", m.CallID, id)
		}
		got += m.Digit
	}

	return got
}
