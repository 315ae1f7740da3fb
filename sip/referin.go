package sip

import (
	"errors"

	sipmsg "github.com/emiago/sipgo/sip"
)

// A trunk's REFER of a call (a blind transfer from the carrier's or PBX's side, RFC 3515) is
// refused: the gateway does not place the new call. The refusal is explicit and leaves the
// call as it was.

// errReferTarget is the Warning text of the 400 to a REFER without exactly one Refer-To.
var errReferTarget = errors.New("a REFER needs exactly one Refer-To")

// errReferRefused is the Warning text of the 603 to a trunk's REFER.
var errReferRefused = errors.New("transfer requests from the trunk are not accepted")

// maxLoggedReferTo bounds the Refer-To logged for a declined REFER, bytes.
const maxLoggedReferTo = 256

// onRefer answers a REFER. Inside a dialog, once it passed the dialog's source check: a REFER
// without exactly one Refer-To gets 400 (RFC 3515 section 2.4.1), any other 603 Decline with a
// Warning (RFC 3515 section 2.4.2: a refused REFER creates no subscription), and the call
// goes on untouched. Outside a dialog it is a method this user agent does not offer: 405 with
// Allow, after the trunks' source check (onNoRoute).
func (ua *UA) onRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); !inDialog {
		ua.onNoRoute(req, tx)
		return
	}
	if c := ua.dialogOf(req, tx); c != nil {
		c.onRefer(req, tx)
	}
}

func (c *Call) onRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	if n := len(req.GetHeaders("Refer-To")); n != 1 {
		c.ua.respond(tx, req, 400, "Bad Request", warning(c.ua.cfg.PublicHost, errReferTarget))
		c.log.Info("sip REFER without exactly one Refer-To refused", "refer_to_headers", n)
		return
	}
	target := headerValue(req, "Refer-To")
	if len(target) > maxLoggedReferTo {
		target = target[:maxLoggedReferTo]
	}
	// Logged once answered: a reader of the log may act on the call at once.
	c.ua.respond(tx, req, 603, "Decline", warning(c.ua.cfg.PublicHost, errReferRefused))
	c.log.Info("sip REFER from the trunk declined", "refer_to", sanitizeText(target))
}
