package integration

import (
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/sipwsclient"
)

// TestSIPWebSocketBadOffers: an INVITE whose SDP the WebRTC leg cannot
// take is answered 488 with a Warning saying why (305 when no codec is in
// common, RFC 3261 section 20.43), nothing reaches the trunk, and the
// connection goes on: a good INVITE after them is placed.
func TestSIPWebSocketBadOffers(t *testing.T) {
	trunk := faketrunk.New(t)
	e := sipwsGatewayWith(t, trunk.Addr().Port(), trunk)
	c := sipwsclient.Dial(t, "ws"+strings.TrimPrefix(e.httpURL, "http")+"/sip")
	good := newPeer(t).Offer(t)
	var noFingerprint []string
	for line := range strings.Lines(good) {
		if !strings.HasPrefix(line, "a=fingerprint:") {
			noFingerprint = append(noFingerprint, line)
		}
	}
	for _, tc := range []struct {
		name, sdp, warning string
	}{
		{"no DTLS fingerprint", strings.Join(noFingerprint, ""), "399 "},
		{"no audio", dataOnlyOffer(t), "305 "},
	} {
		res := sipwsInvite(t, c, "+15550123", tc.sdp)
		w := res.GetHeader("Warning")
		if res.StatusCode != 488 || w == nil || !strings.HasPrefix(w.Value(), tc.warning) {
			t.Errorf("%s: %d %v, want 488 with Warning %s...", tc.name, res.StatusCode, w, tc.warning)
		} else {
			t.Logf("%s: 488, Warning: %s", tc.name, w.Value())
		}
	}
	if n := len(trunk.Requests(sipmsg.INVITE)); n != 0 {
		t.Errorf("the trunk received %d INVITEs, want none", n)
	}
	res := sipwsInvite(t, c, "+15550123", good)
	if res.StatusCode != 183 || len(res.Body()) == 0 {
		t.Errorf("good INVITE after the bad ones: %d, want 183 with the SDP answer", res.StatusCode)
	}
	trunk.WaitCallTo(t, "+15550123")
}

// sipwsInvite sends an INVITE as alice with sdp, answers the 407, and
// returns the first response after 100 Trying.
func sipwsInvite(t *testing.T, c *sipwsclient.Client, number, sdp string) *sipmsg.Response {
	t.Helper()
	req := sipwsclient.Request{Method: "INVITE", URI: "sip:" + number + "@webtrunk", From: "sip:alice@webtrunk", Body: sdp}
	c.Send(c.Build(req))
	res := c.Response()
	auth, err := sipwsclient.Authorization(res, "MD5", "INVITE", req.URI, userAlice, sipwsPassword)
	if err != nil {
		t.Fatalf("INVITE: %d without a digest challenge: %v", res.StatusCode, err)
	}
	req.Headers = []string{auth}
	c.Send(c.Build(req))

	return c.Response()
}

// TestSIPWebSocketBearer: a client with a token of auth.jwt (RFC 8898
// bearer) registers and places a call without a digest exchange, as a
// user the configuration does not list; a forged token is refused 403.
func TestSIPWebSocketBearer(t *testing.T) {
	trunk := faketrunk.New(t)
	e := sipwsGatewayWith(t, trunk.Addr().Port(), trunk)
	c := sipwsclient.Dial(t, "ws"+strings.TrimPrefix(e.httpURL, "http")+"/sip")
	tok := token(t, jwtKey, "carol", time.Hour)
	for _, tc := range []struct {
		name, token string
		want        int
	}{{"forged", tok + "x", 403}, {"good", tok, 200}} {
		c.Send(c.Build(sipwsclient.Request{Method: "REGISTER", URI: "sip:webtrunk", From: "sip:carol@webtrunk",
			Headers: []string{"Authorization: Bearer " + tc.token}}))
		if res := c.Response(); res.StatusCode != tc.want {
			t.Errorf("REGISTER with a %s token: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	req := sipwsclient.Request{Method: "INVITE", URI: "sip:+15550123@webtrunk", From: "sip:carol@webtrunk",
		Body: newPeer(t).Offer(t), Headers: []string{"Proxy-Authorization: Bearer " + tok}}
	c.Send(c.Build(req))
	if res := c.Response(); res.StatusCode != 183 {
		t.Errorf("INVITE with a token: %d, want 183 with the answer", res.StatusCode)
	}
	trunk.WaitCallTo(t, "+15550123")
}
