package gateway

import (
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// dialPCMU places call id to number over b's signaling connection from a
// peer that speaks PCMU alone, and returns it once the gateway answered.
func dialPCMU(t *testing.T, b *gobrowser.Client, id, to string) *gobrowser.Peer {
	t.Helper()
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{PCMU: true})
	b.Dial(t, id, to, p)

	return p
}

// endedLine waits for the "call ended" log line and returns it.
func endedLine(t *testing.T, e *env) string {
	t.Helper()

	return e.logs.WaitLine(t, `msg="call ended"`)
}

// A PCMU browser calling a PCMU trunk: calls.transcode_same_codec decides
// whether the audio is relayed or decoded and re-encoded, the call's log
// line says which, and the tones get through either way.
func TestSameCodecPCMUBrowser(t *testing.T) {
	tests := []struct {
		name      string
		sameCodec bool
		up, down  string
	}{
		{"relayed", false,
			"up: PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms",
			"down: PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms"},
		{"transcoded", true,
			"up: PCMU/8000 decode -> PCMU re-encode, ptime 20ms",
			"down: PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{sameCodec: tt.sameCodec})
			b := login(t, e, "alice")
			c := dialPCMU(t, b, "p1", "5550123")
			tc := e.trunk.NextCall(t)
			expectProgress[signaling.Connected](t, b)

			testcodec.AssertTone(t, tc.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
			testcodec.AssertTone(t, c.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

			b.Send(t, signaling.Hangup{CallID: "p1"})
			expect[signaling.HangupEvent](t, b)
			line := endedLine(t, e)
			for _, want := range []string{"browser PCMU/8000 pt 0", "trunk PCMU/8000 pt 0", tt.up, tt.down} {
				if !strings.Contains(line, want) {
					t.Errorf("call log line lacks %q:\n%s", want, line)
				}
			}
		})
	}
}
