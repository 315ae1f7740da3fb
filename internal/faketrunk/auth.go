package faketrunk

import (
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authorized checks the INVITE's digest credentials against plan (RFC 3261
// section 22.4). Without credentials it sends the plan's challenge (401
// with WWW-Authenticate, or 407 with Proxy-Authenticate), with wrong ones
// 403, and reports false.
func authorized(req *sipmsg.Request, tx sipmsg.ServerTransaction, plan Plan) bool {
	hdrName, chalName := "Authorization", "WWW-Authenticate"
	if plan.Challenge == sipmsg.StatusProxyAuthRequired {
		hdrName, chalName = "Proxy-Authorization", "Proxy-Authenticate"
	}
	chal := &digest.Challenge{Realm: "trunk.test", Nonce: "nonce-" + req.CallID().Value(), Algorithm: "MD5", QOP: []string{"auth"}}
	if h := req.GetHeader(hdrName); h != nil {
		creds, err := digest.ParseCredentials(h.Value())
		if err == nil {
			want, err := digest.Digest(chal, digest.Options{
				Method: string(req.Method), URI: creds.URI, Username: plan.User, Password: plan.Password,
				Count: creds.Nc, Cnonce: creds.Cnonce,
			})
			if err == nil && creds.Username == plan.User && creds.Response == want.Response {
				return true
			}
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusForbidden, "Forbidden", nil))

		return false
	}
	res := sipmsg.NewResponseFromRequest(req, plan.Challenge, ReasonPhrase(plan.Challenge), nil)
	res.AppendHeader(sipmsg.NewHeader(chalName, chal.String()))
	_ = tx.Respond(res)

	return false
}
