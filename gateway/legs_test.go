package gateway

import (
	"errors"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestLegError: the browser leg's errors reach the browser as the
// protocol's codes, with the leg's detail for people; anything else is an
// internal error that says nothing of the gateway's inside.
func TestLegError(t *testing.T) {
	errInside := errors.New("pion: something broke")
	tests := []struct {
		name string
		err  error
		code signaling.Code
		msg  string
	}{
		{"bad offer", &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: bad line", Err: errInside}, signaling.CodeBadRequest, "sdp: bad line"},
		{"no common codec", &browser.Error{Kind: browser.ErrNoCommonCodec, Detail: "sdp: the offer has none of opus, PCMU, PCMA"}, signaling.CodeNoCommonCodec, "sdp: the offer has none of opus, PCMU, PCMA"},
		{"bad candidate", &browser.Error{Kind: browser.ErrBadCandidate, Detail: "candidate: no"}, signaling.CodeBadRequest, "candidate: no"},
		{"internal", errInside, signaling.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := legError(tt.err)
			var ce *callError
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Msg != tt.msg || !errors.Is(err, tt.err) {
				t.Fatalf("legError(%v) = %#v, want %s %q wrapping it", tt.err, err, tt.code, tt.msg)
			}
		})
	}
	if err := legError(nil); err != nil {
		t.Errorf("legError(nil) = %v", err)
	}
}
