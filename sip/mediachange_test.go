package sip

import (
	"fmt"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestReinviteMediaChanged: a re-INVITE from the trunk that changes the codec or only the
// telephone-event payload type is reported as EventMediaChanged with the new Media (RFC 3264
// section 8.3.2), so that the media bridge follows it; one that changes nothing is not.
func TestReinviteMediaChanged(t *testing.T) {
	sdpWith := func(version int, rtpmap string) []byte {
		return []byte(fmt.Sprintf("v=0\r\no=peer 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio 40090 RTP/AVP %s\r\na=sendrecv\r\n", version, rtpmap))
	}
	tests := []struct {
		name      string
		media     string // the m= formats and their a= lines
		wantEvent bool
		codec     telephony.Codec
		tePT      uint8
	}{
		{"nothing changed", "0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000", false, telephony.PCMU, 101},
		{"codec", "8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000", true, telephony.PCMA, 101},
		{"telephone-event payload type", "0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000", true, telephony.PCMU, 96},
		{"telephone-event dropped", "0\r\na=rtpmap:0 PCMU/8000", true, telephony.PCMU, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peer, env := dialingUA(t)
			call, inv, ok := dialPeer(t, env, peer, 40090)
			reinvite := peerRequest(peer, sipmsg.INVITE, inv, ok, 100, sdpWith(2, tc.media))
			peer.Send(reinvite, env.addr)
			answer := peer.ExpectResponse(reinvite, 200, 5*time.Second)
			peer.Send(peer.ACKFor(reinvite, answer), env.addr)

			select {
			case ev := <-call.Events():
				if !tc.wantEvent {
					t.Fatalf("event %v for a re-INVITE that changed nothing", ev.Kind)
				}
				if ev.Kind != EventMediaChanged || !ev.Media.Codec.SameFormat(tc.codec) || ev.Media.TelephoneEventPT != tc.tePT {
					t.Fatalf("event %v codec %s telephone-event %d, want media-changed %s %d", ev.Kind, ev.Media.Codec, ev.Media.TelephoneEventPT, tc.codec, tc.tePT)
				}
			case <-time.After(quiet(tc.wantEvent)):
				if tc.wantEvent {
					t.Fatal("no media-changed event")
				}
			}
			if m := call.Media(); !m.Codec.SameFormat(tc.codec) || m.TelephoneEventPT != tc.tePT {
				t.Errorf("Media codec %s telephone-event %d, want %s %d", m.Codec, m.TelephoneEventPT, tc.codec, tc.tePT)
			}
			acceptHangup(t, peer, call, env.addr)
		})
	}
}

// quiet is how long a test waits for an event: long when one is expected (it ends the wait as it
// arrives), one second to conclude that none comes.
func quiet(expected bool) time.Duration {
	if expected {
		return 10 * time.Second
	}
	return time.Second
}
