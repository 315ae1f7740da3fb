package gateway

import (
	"errors"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// legError turns an error of the browser leg into the error the browser
// is answered with: bad_request for an offer or candidate the leg cannot
// use, no_common_codec for an offer without Opus, PCMU or PCMA, internal
// for any other failure. nil stays nil.
func legError(err error) error {
	if err == nil {
		return nil
	}
	var le *browser.Error
	if !errors.As(err, &le) {
		return &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: err}
	}
	code := signaling.CodeBadRequest
	if errors.Is(le.Kind, browser.ErrNoCommonCodec) {
		code = signaling.CodeNoCommonCodec
	}

	return &callError{Code: code, Msg: le.Detail, Err: err}
}

// newLeg creates the browser leg of session s from the browser's offer:
// ICE or DTLS failing later ends the session with ice_failed. It returns
// the leg and the SDP answer, or a *callError.
func (g *Gateway) newLeg(s *session, offer string) (browser.Leg, string, error) {
	leg, answer, err := g.rtc.NewLeg(offer, func() { s.end(errICEFailed) })
	if err != nil {
		return nil, "", legError(err)
	}

	return leg, answer, nil
}

// addCandidate adds a browser's trickled ICE candidate (RFC 8838) to the
// session's leg.
func (s *session) addCandidate(c signaling.ICECandidate) error {
	return legError(s.leg.AddCandidate(browser.Candidate{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	}))
}
