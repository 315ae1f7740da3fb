package gateway

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/telephony"
)

// TestTrunkHoldSignalled: the trunk's hold and resume re-INVITEs reach the
// browser as held and resumed, once each, and the call goes on.
func TestTrunkHoldSignalled(t *testing.T) {
	e := newEnv(t, testConfig{})
	b, _, tc := callUp(t, e)
	tc.WaitAnswered(t) // the trunk has finished answering before it re-INVITEs
	for _, step := range []struct {
		dir  string
		want signaling.Type
	}{
		{faketrunk.SendOnly, signaling.TypeHeld},
		{faketrunk.SendRecv, signaling.TypeResumed},
		{faketrunk.Inactive, signaling.TypeHeld},
		{faketrunk.SendRecv, signaling.TypeResumed},
	} {
		tc.Hold(t, telephony.PCMU, step.dir)
		// The next message must be the event (expect fails on any other).
		if step.want == signaling.TypeHeld {
			if m := expect[signaling.Held](t, b); m.CallID != "c1" {
				t.Errorf("held %+v, want call c1", m)
			}
		} else if m := expect[signaling.Resumed](t, b); m.CallID != "c1" {
			t.Errorf("resumed %+v, want call c1", m)
		}
	}
	tc.Bye(t)
	if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
		t.Fatalf("hangup %+v, want remote_hangup", h)
	}
}

// TestInboundIdentity: the caller the browser is shown for what the
// trunk's INVITE says, on a trusted and an untrusted trunk.
func TestInboundIdentity(t *testing.T) {
	pai := sipmsg.NewHeader("P-Asserted-Identity", `"Carol" <sip:+15559990000@127.0.0.1>`)
	tests := []struct {
		name    string
		trusted bool
		headers []sipmsg.Header
		want    signaling.Incoming
	}{
		{"untrusted PAI ignored", false, []sipmsg.Header{pai},
			signaling.Incoming{From: "+15551230000", FromName: "Bob"}},
		{"trusted PAI", true, []sipmsg.Header{pai},
			signaling.Incoming{From: "+15559990000", FromName: "Carol"}},
		{"withheld", true, []sipmsg.Header{pai, sipmsg.NewHeader("Privacy", "id")},
			signaling.Incoming{Anonymous: true}},
		{"diverted", false, []sipmsg.Header{
			sipmsg.NewHeader("Diversion", "<sip:+15550177@127.0.0.1>;reason=user-busy"),
			sipmsg.NewHeader("History-Info", "<sip:+15550177@127.0.0.1>;index=1,<sip:+15550100@127.0.0.1;cause=486>;index=1.1"),
		}, signaling.Incoming{
			From: "+15551230000", FromName: "Bob",
			Diversion: []signaling.Redirection{{Number: "+15550177", Reason: "user-busy"}},
			History:   []signaling.Redirection{{Number: "+15550177", Index: "1"}, {Number: "+15550100", Reason: "486", Index: "1.1"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Trunks[0].TrustIdentity = tt.trusted }})
			b := login(t, e, "alice")
			tc := e.trunk.Dial(t, e.sip, "+15550100", faketrunk.DialOptions{From: "+15551230000", FromName: "Bob", Headers: tt.headers})
			in := expect[signaling.Incoming](t, b)
			tt.want.CallID, tt.want.To = in.CallID, "+15550100"
			if got, want := describeIncoming(in), describeIncoming(tt.want); got != want {
				t.Errorf("incoming\n got %s\nwant %s", got, want)
			}
			b.Send(t, signaling.Reject{CallID: in.CallID})
			tc.WaitEnded(t, faketrunk.EndRejected)
		})
	}
}

// describeIncoming formats an incoming message for comparison.
func describeIncoming(m signaling.Incoming) string {
	var b strings.Builder
	b.WriteString(m.From + "|" + m.FromName + "|" + m.To)
	if m.Anonymous {
		b.WriteString("|anonymous")
	}
	for _, r := range m.Diversion {
		b.WriteString("|div " + r.Number + " " + r.Reason)
	}
	for _, r := range m.History {
		b.WriteString("|hist " + r.Index + " " + r.Number + " " + r.Reason)
	}

	return b.String()
}
