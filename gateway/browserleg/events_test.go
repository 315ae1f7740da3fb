package browserleg

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// TestAnswerListsOneTelephoneEvent: the answer keeps one telephone-event,
// the one at the audio codec's clock when offered, so that Chromium sends
// whole events rather than end packets only; the offer's other codecs
// stay, in its order, and Media names the event the browser will use. The
// answer is DTLS passive.
func TestAnswerListsOneTelephoneEvent(t *testing.T) {
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)})
	t.Cleanup(func() { _ = api.Close() })
	te8 := loopbackrtc.TelephoneEvent8k
	tests := []struct {
		name      string
		codecs    []webrtc.RTPCodecParameters
		wantEvent string // the answer's telephone-event rtpmap
		wantPT    uint8
		wantFirst string // the answer's first format
	}{
		{"chromium: opus and both", loopbackrtc.ChromiumAudio(), "110 telephone-event/48000", 110, "111"},
		{"firefox: opus and 8000 only", []webrtc.RTPCodecParameters{loopbackrtc.Opus, loopbackrtc.PCMU, te8}, "126 telephone-event/8000", 126, "111"},
		{"pcmu first and both", []webrtc.RTPCodecParameters{loopbackrtc.PCMU, loopbackrtc.Opus, loopbackrtc.TelephoneEvent48k, te8}, "126 telephone-event/8000", 126, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peer := gobrowser.NewPeerConnection(t, loopbackrtc.Options{Codecs: tc.codecs, LoggerFactory: LoggerFactory{Logger: testLogger(t)}})
			t.Cleanup(func() { _ = peer.Close() })
			if _, err := peer.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
				t.Fatal(err)
			}
			leg, answer, err := api.NewLeg(gobrowser.CompleteOffer(t, peer).SDP, func() {})
			if err != nil {
				t.Fatalf("NewLeg: %v", err)
			}
			t.Cleanup(func() { _ = leg.Close() })
			var events []string
			for _, line := range strings.Split(answer, "\r\n") {
				if v, ok := strings.CutPrefix(line, "a=rtpmap:"); ok && strings.Contains(v, "telephone-event") {
					events = append(events, v)
				}
			}
			if len(events) != 1 || !strings.HasPrefix(events[0], tc.wantEvent+"/") {
				t.Errorf("answer's telephone-events %q, want only %q", events, tc.wantEvent)
			}
			if m := answerFormats(answer); len(m) == 0 || m[0] != tc.wantFirst {
				t.Errorf("answer's formats %v, want %s first", m, tc.wantFirst)
			}
			// The browser starts DTLS, after our Binding Success
			// Response (RFC 5763 section 5).
			if !strings.Contains(answer, "\r\na=setup:passive\r\n") {
				t.Errorf("answer without a=setup:passive:\n%s", answer)
			}
			m := leg.Media()
			if len(m.Events) != 1 || m.Events[0].PayloadType != tc.wantPT || m.Event != m.Events[0] {
				t.Errorf("Media %v events %v, want the one telephone-event pt %d", m, m.Events, tc.wantPT)
			}
		})
	}
}

// answerFormats returns the formats of the answer's audio m= line.
func answerFormats(answer string) []string {
	for _, line := range strings.Split(answer, "\r\n") {
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			f := strings.Fields(v)
			if len(f) > 2 {
				return f[2:]
			}
		}
	}

	return nil
}
