package integration

import (
	"fmt"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// concurrentCalls is how many calls TestConcurrentCalls holds at once.
const concurrentCalls = 20

// TestConcurrentCalls: 20 calls up at the same time on one gateway. Each
// browser sends a tone of its own frequency, and each trunk leg must hear
// exactly its own browser's tone (no audio crosses between calls) while
// every browser hears the trunk. Then all are hung up: every trunk leg gets
// its BYE and every RTP port is released (checked when the environment
// stops).
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	b := e.login(t, userLoad)

	// Place every call first, so that they are all set up concurrently.
	calls := make([]*testCall, concurrentCalls)
	for i := range calls {
		peer := gobrowser.NewPeer(t, gobrowser.PeerOptions{ToneHz: float64(callTone(i))})
		calls[i] = b.dialWith(t, fmt.Sprintf("+1555200%04d", i), peer)
	}
	for _, c := range calls {
		c.trunk.WaitAnswered(t)
		b.ws.Expect(t, "connected "+c.id, gobrowser.Is[signaling.Connected](c.id))
		c.peer.WaitConnected(t)
	}
	// Mark where every recording stands, then check each call's audio from
	// its mark on: all calls are shown to carry audio over the same stretch
	// of time.
	trunkMarks, browserMarks := make([]int, len(calls)), make([]int, len(calls))
	for i, c := range calls {
		trunkMarks[i], browserMarks[i] = c.trunk.Heard().Len(), c.peer.Heard().Len()
	}
	for i, c := range calls {
		c.trunk.Heard().WaitTone(t, fmt.Sprintf("trunk leg %d", i), trunkMarks[i], float64(callTone(i)), float64(callTone((i+1)%concurrentCalls)))
		c.peer.Heard().WaitTone(t, fmt.Sprintf("browser %d", i), browserMarks[i], trunkToneHz, float64(callTone(i)))
	}
	for _, c := range calls {
		b.ws.Send(t, signaling.Hangup{CallID: c.id})
	}
	for _, c := range calls {
		b.ws.ExpectHangup(t, c.id, signaling.ReasonLocalHangup, 0)
		c.trunk.WaitEnded(t, faketrunk.EndByeReceived)
	}
}

// callTone is the browser tone of call i: 300 Hz to 870 Hz in 30 Hz steps,
// all well apart from each other and from the trunk's 1000 Hz.
func callTone(i int) int { return 300 + 30*i }
