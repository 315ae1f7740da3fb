package gateway

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// sdpICECredentials returns the ice-ufrag and ice-pwd of an SDP.
func sdpICECredentials(sdp string) (ufrag, pwd string) {
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok {
			pwd = v
		}
	}

	return ufrag, pwd
}

func TestICERestartMovesTheBrowserAndKeepsTheCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, p, tc, _ := resumableCall(t, e)
	before := p.LocalAddr()
	requests := trunkRequests(e)
	oldUfrag, _ := sdpICECredentials(p.PeerConnection().RemoteDescription().SDP)

	r := b.RestartICE(t, "c1", p)
	ufrag, pwd := sdpICECredentials(r.SDP)
	if ufrag == "" || pwd == "" || ufrag == oldUfrag {
		t.Errorf("restart answer ice-ufrag %q (was %q), ice-pwd %q: want new credentials", ufrag, oldUfrag, pwd)
	}

	// The audio resumes both ways over the new path, from a new socket.
	mark := tc.Heard().Len()
	tc.Heard().WaitTone(t, "trunk after the restart", mark, 440, 1000)
	pm := p.Heard().Len()
	testcodec.AssertTone(t, p.Heard().WaitSamples(t, pm+secondOfAudio)[pm:], 1000, 440)
	if after := p.LocalAddr(); after == before || !after.IsValid() {
		t.Errorf("the browser's address stayed %v across the restart (now %v)", before, after)
	}
	if n := trunkRequests(e); n != requests {
		t.Errorf("the trunk received %d SIP requests across the ICE restart", n-requests)
	}
	if got := testutil.ToFloat64(e.gw.metrics.ICERestarts); got != 1 {
		t.Errorf("webtrunk_ice_restarts_total %v, want 1", got)
	}
}

func TestICERestartRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, p, tc, _ := resumableCall(t, e)
	// A restart offer made from the browser's current one, with new ICE
	// credentials, leaves the peer itself untouched.
	offer := p.PeerConnection().LocalDescription().SDP
	ufrag, pwd := sdpICECredentials(offer)
	offer = strings.ReplaceAll(strings.ReplaceAll(offer, ufrag, "newufragnewufrag"), pwd, "newpasswordnewpasswordnewpasswd")
	// PCMU first: the offer would change the call's codec from Opus.
	pcmuFirst := strings.Replace(offer, "UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 0 111", 1)
	if pcmuFirst == offer {
		t.Fatalf("no Opus payload type 111 first in the offer:\n%s", offer)
	}
	tests := []struct {
		name   string
		msg    signaling.ICERestart
		code   signaling.Code
		detail string
	}{
		{"codec change", signaling.ICERestart{CallID: "c1", SDP: pcmuFirst}, signaling.CodeBadRequest, "may not change the codec"},
		{"not SDP", signaling.ICERestart{CallID: "c1", SDP: "hello"}, signaling.CodeBadRequest, "sdp"},
		{"no such call", signaling.ICERestart{CallID: "c9", SDP: offer}, signaling.CodeNotFound, "no such call"},
	}
	for _, tt := range tests {
		b.Send(t, tt.msg)
		r := expect[signaling.ErrorReply](t, b)
		if r.Code != tt.code || r.CallID != tt.msg.CallID || !strings.Contains(r.Message, tt.detail) {
			t.Errorf("%s: reply %+v, want %s with %q", tt.name, r, tt.code, tt.detail)
		}
	}
	// The call goes on as it was.
	mark := tc.Heard().Len()
	tc.Heard().WaitTone(t, "trunk after the refusals", mark, 440, 1000)
	if _, ended := tc.Ended(); ended {
		t.Fatal("a refused restart ended the call")
	}
}
