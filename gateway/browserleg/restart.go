package browserleg

import (
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/browser"
)

// Restart answers the browser's new offer on the same PeerConnection. When
// its ice-ufrag and ice-pwd changed, pion's ICE-lite agent restarts as the
// answerer of RFC 8445 section 2.4 (SetRemoteDescription of the offer
// restarts it with new local credentials and gathers the host candidates
// again); DTLS, SRTP and both tracks go on, so the media resumes as soon as
// the browser's checks succeed on the new path. An offer that changes the
// audio codec, its payload type or the telephone-events is refused with
// an *browser.Error of kind ErrCodecChange before anything is applied.
func (l *Leg) Restart(offer string) (string, error) {
	m, err := parseOffer(offer)
	if err != nil {
		return "", err
	}
	if !sameMedia(m, l.media) {
		return "", &browser.Error{Kind: browser.ErrCodecChange, Detail: "sdp: an ICE restart may not change the codec"}
	}
	l.restartMu.Lock()
	defer l.restartMu.Unlock()
	bad := func(err error) error {
		return &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: " + err.Error(), Err: err}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", bad(err)
	}

	return l.completeAnswer(bad)
}

// sameMedia reports whether a new offer a keeps the call's audio codec
// (name, clock rate, channels and payload type) and the telephone-event
// the call uses. The other telephone-events a lists do not matter: the
// answer narrowed the call to one (answerOneEvent), and a browser's later
// offer may list them all again or only the negotiated one.
func sameMedia(a, b browser.Media) bool {
	return a.Audio == b.Audio && a.Event == b.Event
}
