package gobrowser

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine of a peer or a client
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestPeerToPeer connects two peers, the second answering the first's
// offer, so that a failing test of the gateway can be blamed on the
// gateway, not on the Go browser: each side hears the other's tone and not
// its own, digits sent like RTCDTMFSender's arrive as RFC 4733 events on
// the telephone-event payload type, and neither stream breaks.
func TestPeerToPeer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pcmu bool
	}{
		{"opus", false},
		{"pcmu", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			near := NewPeer(t, PeerOptions{PCMU: tt.pcmu})
			far := NewPeer(t, PeerOptions{PCMU: tt.pcmu, ToneHz: 1000})
			near.ApplyAnswer(t, far.Answer(t, near.Offer(t)))
			near.WaitConnected(t)
			far.WaitConnected(t)
			far.Heard().WaitTone(t, "far", 0, DefaultToneHz, 1000)
			near.Heard().WaitTone(t, "near", 0, 1000, DefaultToneHz)
			if !tt.pcmu {
				near.SendDigits("4*7")
				far.Heard().WaitDigits(t, "4*7")
				far.SendDigits("#1")
				near.Heard().WaitDigits(t, "#1")
			}
			if n, f := near.Breaks(), far.Breaks(); n != 0 || f != 0 {
				t.Errorf("streams broke %d times at the near end, %d at the far end", n, f)
			}
		})
	}
}
