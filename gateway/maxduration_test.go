package gateway

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// Limits of the calls.max_duration test.
const (
	// testMaxDuration is the call limit the test configures, far below the
	// one minute the configuration accepts.
	testMaxDuration = 1500 * time.Millisecond
	// maxDurationEarly is how much sooner than testMaxDuration after the
	// browser read connected its hangup may arrive: the timer starts right
	// after connected is queued, before the browser has read it.
	maxDurationEarly = 100 * time.Millisecond
	// maxDurationLate is how much later than testMaxDuration the hangup may
	// arrive: the BYE transaction and the delivery of the message.
	maxDurationLate = 1500 * time.Millisecond
	// maxDurationAudio is the least audio, in 8 kHz samples (ten
	// packets), each side must have heard during the call, however long
	// the browser's ICE and DTLS took on a busy machine; the second half
	// of what it heard must be the other side's tone.
	maxDurationAudio = 10 * 160
	// maxDurationGap is the longest the trunk's audio may have stopped
	// before the gateway's BYE ended its call: the media went on to the
	// end.
	maxDurationGap = 500 * time.Millisecond
)

// connectedCall is a call up between the fake browser and the fake trunk.
type connectedCall struct {
	id      string
	browser *gobrowser.Peer
	trunk   *faketrunk.Call
	// at is when the browser read its connected message.
	at time.Time
}

// dialOutConnected has the browser dial a number the fake trunk answers.
func dialOutConnected(t *testing.T, e *env, b *gobrowser.Client) connectedCall {
	t.Helper()
	c := dial(t, b, "out1", "+15550123")
	conn := expectProgress[signaling.Connected](t, b)
	at := time.Now()
	if conn.CallID != "out1" {
		t.Fatalf("connected %+v, want out1", conn)
	}

	return connectedCall{id: "out1", browser: c, trunk: e.trunk.NextCall(t), at: at}
}

// dialInConnected has the fake trunk call alice's DID and the browser
// accept it.
func dialInConnected(t *testing.T, e *env, b *gobrowser.Client) connectedCall {
	t.Helper()
	tc := trunkDial(t, e, "+15550100")
	in := expect[signaling.Incoming](t, b)
	c := accept(t, b, in.CallID)
	conn := expect[signaling.Connected](t, b)
	at := time.Now()
	if conn.CallID != in.CallID {
		t.Fatalf("connected %+v, want %s", conn, in.CallID)
	}
	tc.WaitAnswered(t)

	return connectedCall{id: in.CallID, browser: c, trunk: tc, at: at}
}

// TestMaxDurationEndsCall: calls.max_duration ends an established call in
// either direction at the limit, counted from the answer: the browser gets
// hangup max_duration, the trunk a BYE that it answers 200 (RFC 3261
// section 15.1), and the call's RTP ports are free again afterwards.
//
// It does not run in parallel with other tests, so that no other gateway
// can take the RTP port the test checks is released.
func TestMaxDurationEndsCall(t *testing.T) {
	tests := []struct {
		name    string
		dir     string
		connect func(*testing.T, *env, *gobrowser.Client) connectedCall
	}{
		{"outbound", directionOutbound, dialOutConnected},
		{"inbound", directionInbound, dialInConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{maxDuration: testMaxDuration})
			b := login(t, e, "alice")
			call := tt.connect(t, e, b)
			rtpAddr := call.trunk.Remote() // the gateway's side, as it offered or answered

			h := expect[signaling.HangupEvent](t, b)
			after := time.Since(call.at)
			if h.CallID != call.id || h.Reason != signaling.ReasonMaxDuration || h.SIPCode != 0 {
				t.Fatalf("hangup %+v, want max_duration for %s without a SIP code", h, call.id)
			}
			if after < testMaxDuration-maxDurationEarly || after > testMaxDuration+maxDurationLate {
				t.Errorf("hangup %v after connected, want about %v", after.Round(time.Millisecond), testMaxDuration)
			}
			call.trunk.WaitEnded(t, faketrunk.EndByeReceived)

			// Audio flowed both ways: each side heard the other's tone in
			// the packets it received during the call.
			for _, side := range []struct {
				name          string
				heard         *ear.Record
				want, notWant float64
			}{{"trunk", call.trunk.Heard(), 440, 1000}, {"browser", call.browser.Heard(), 1000, 440}} {
				pcm := side.heard.Audio()
				if len(pcm) < maxDurationAudio {
					t.Fatalf("the %s heard %d samples in the call, want at least %d", side.name, len(pcm), maxDurationAudio)
				}
				testcodec.AssertTone(t, pcm[len(pcm)/2:], side.want, side.notWant)
			}
			// The trunk heard the browser until the end, not just at the
			// start: its last audio packet came right before the BYE ended
			// its call, both seen by its own receiver.
			if last, ended := call.trunk.Heard().WaitEnd(t); ended.Sub(last) > maxDurationGap {
				t.Errorf("the trunk's audio stopped %v before the call ended, want at most %v", ended.Sub(last).Round(time.Millisecond), maxDurationGap)
			}

			line := endedLine(t, e)
			for _, want := range []string{"reason=max_duration", "direction=" + tt.dir} {
				if !strings.Contains(line, want) {
					t.Errorf("call log line lacks %q:\n%s", want, line)
				}
			}
			// The gateway's BYE got its 200: a failed or unanswered BYE is logged.
			if logs := e.logs.String(); strings.Contains(logs, "sip BYE failed") || strings.Contains(logs, `msg=hangup `) {
				t.Errorf("the gateway's BYE was not answered 200:\n%s", logs)
			}
			if got := callsTotal(t, e, tt.dir, signaling.ReasonMaxDuration); got != 1 {
				t.Errorf("calls ended by max_duration: %v, want 1", got)
			}
			if got := testutilGauge(t, e, tt.dir); got != 0 {
				t.Errorf("calls active %v after the call ended, want 0", got)
			}
			if n := e.gw.ua.ActiveCalls(); n != 0 {
				t.Errorf("%d SIP dialogs left after the call ended", n)
			}
			assertUDPFree(t, rtpAddr.Addr, "RTP")
			assertUDPFree(t, rtpAddr.RTCP, "RTCP")
		})
	}
}

// callsTotal reads the ended-calls counter of a direction and reason.
func callsTotal(t *testing.T, e *env, dir string, reason signaling.Reason) float64 {
	t.Helper()
	var m dto.Metric
	if err := e.gw.Metrics().CallsTotal.WithLabelValues(dir, string(reason)).Write(&m); err != nil {
		t.Fatal(err)
	}

	return m.GetCounter().GetValue()
}

// assertUDPFree fails unless addr (a port the gateway used) can be bound
// again on loopback.
func assertUDPFree(t *testing.T, addr netip.AddrPort, what string) {
	t.Helper()
	if !addr.Addr().IsLoopback() || addr.Port() == 0 {
		t.Fatalf("%s address %v is not a loopback port", what, addr)
	}
	var lc net.ListenConfig
	c, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
	if err != nil {
		t.Errorf("%s port %v still taken after the call ended: %v", what, addr, err)

		return
	}
	_ = c.Close()
}
