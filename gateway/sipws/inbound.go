package sipws

import (
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// ring sends an inbound call of user to its newest contact on this
// connection: an INVITE without SDP, so that the client makes the WebRTC
// offer in its 200 and gets the gateway's answer in the ACK (RFC 3261
// section 13.2.1), as a webtrunk.js tab offers in accept.
func (c *conn) ring(user string, m signaling.Incoming) {
	c.mu.Lock()
	d := c.doors[user]
	c.mu.Unlock()
	if d == nil {
		return
	}
	bound := c.s.reg.contacts(c, user)
	if len(bound) == 0 {
		d.Withdraw(m.CallID)

		return
	}
	dom := c.s.cfg.Domain
	cl := &call{
		id: m.CallID, user: user, door: d, inbound: true, sipCallID: token(12) + "@" + c.host,
		localTag: token(8), branch: "z9hG4bK" + token(10), ruri: bound[len(bound)-1].uri, cseq: 1,
	}
	from := m.From
	if m.Anonymous || !safeUser(from) {
		from = "anonymous"
	}
	name := ""
	if q := quotedName(m.FromName); q != "" && !m.Anonymous {
		name = q + " "
	}
	cl.localFrom = name + "<sip:" + from + "@" + dom + ">;tag=" + cl.localTag
	cl.remoteTo = "<sip:" + user + "@" + dom + ">"
	cl.remoteURI = cl.ruri
	c.track(cl)
	c.write(c.buildRequest(cl, "INVITE", cl.ruri, cl.branch, cl.remoteTo, 1, "", c.contact(), allowHeader))
	c.log.Info("sip invite sent", "user", user, "call_id", cl.id, "sip_call_id", cl.sipCallID)
}

// buildRequest builds a request of cl's dialog.
func (c *conn) buildRequest(cl *call, method, ruri, branch, to string, cseq uint32, body string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/" + c.scheme + " " + c.host + ";branch=" + branch + "\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: " + cl.localFrom + "\r\n")
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + cl.sipCallID + "\r\n")
	b.WriteString("CSeq: " + strconv.FormatUint(uint64(cseq), 10) + " " + method + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.WriteString(body)

	return b.String()
}

// response handles a response of the client to our INVITE (others end
// nothing: a BYE's or CANCEL's response closes its transaction only).
func (c *conn) response(res *sipmsg.Response) {
	if res.CSeq().MethodName != sipmsg.INVITE {
		return
	}
	cl := c.bySIP(res.CallID().Value())
	if cl == nil || !cl.inbound {
		return
	}
	tag := ""
	if to := res.To(); to != nil {
		tag, _ = to.Params.Get("tag")
	}
	switch {
	case res.StatusCode < 200:
		return
	case res.StatusCode < 300:
		c.answered(cl, res, tag)
	default:
		// RFC 3261 section 17.1.1.3: the ACK of a non-2xx final response
		// is part of the INVITE transaction.
		c.write(c.buildRequest(cl, "ACK", cl.ruri, cl.branch, res.To().Value(), 1, ""))
		c.mu.Lock()
		cancelled := cl.cancelled
		c.mu.Unlock()
		c.forget(cl)
		if cancelled {
			return
		}
		c.log.Info("sip invite declined", "call_id", cl.id, "sip_code", res.StatusCode)
		if res.StatusCode >= 600 {
			cl.door.Send(signaling.Reject{CallID: cl.id})
		} else {
			cl.door.Withdraw(cl.id)
		}
	}
}

// answered handles the client's 2xx: its SDP offer accepts the call; a
// 2xx after our CANCEL, or a second one, is acknowledged and hung up.
func (c *conn) answered(cl *call, res *sipmsg.Response, tag string) {
	c.mu.Lock()
	first := !cl.accepted
	late := cl.cancelled
	if first {
		cl.accepted = true
		cl.remoteTo = res.To().Value()
		if ct := res.Contact(); ct != nil {
			cl.remoteURI = ct.Address.String()
		}
	}
	c.mu.Unlock()
	_ = tag
	if !first {
		return
	}
	if late || len(res.Body()) == 0 {
		c.ack(cl, "")
		c.sendBye(cl)
		c.forget(cl)
		if !late {
			cl.door.Withdraw(cl.id)
		}

		return
	}
	cl.door.Send(signaling.Accept{CallID: cl.id, SDP: string(res.Body())})
}

// ack acknowledges the client's 2xx, with the gateway's SDP answer.
func (c *conn) ack(cl *call, sdp string) {
	c.mu.Lock()
	if cl.acked {
		c.mu.Unlock()

		return
	}
	cl.acked = true
	to, uri := cl.remoteTo, cl.remoteURI
	c.mu.Unlock()
	c.write(c.buildRequest(cl, "ACK", uri, "z9hG4bK"+token(10), to, 1, sdp))
}

// cancelOurs cancels our INVITE still ringing the client (RFC 3261
// section 9.1), with Reason "Call completed elsewhere" when another
// connection answered (RFC 3326).
func (c *conn) cancelOurs(cl *call, elsewhere bool) {
	var extra []string
	if elsewhere {
		extra = append(extra, `Reason: SIP;cause=200;text="Call completed elsewhere"`)
	}
	c.write(c.buildRequest(cl, "CANCEL", cl.ruri, cl.branch, "<sip:"+cl.user+"@"+c.s.cfg.Domain+">", 1, "", extra...))
}

// sendBye ends an established dialog from our side.
func (c *conn) sendBye(cl *call) {
	c.mu.Lock()
	cl.cseq++
	seq, to, uri := cl.cseq, cl.remoteTo, cl.remoteURI
	c.mu.Unlock()
	if uri == "" {
		return
	}
	c.write(c.buildRequest(cl, "BYE", uri, "z9hG4bK"+token(10), to, seq, ""))
}

// safeUser reports whether a caller's number may stand as the user part
// of a SIP URI as it is: 1 to 64 characters of digits, letters, "+",
// "*", "#", "-", "." and "_" (RFC 3261 section 25.1, no escaping needed).
func safeUser(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for _, r := range u {
		ok := (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || strings.ContainsRune("+*#-._", r)
		if !ok {
			return false
		}
	}

	return true
}

// quotedName is a display name as a SIP quoted-string (RFC 3261 section
// 25.1): control characters and invalid UTF-8 dropped, '"' and '\'
// escaped, at most 64 characters; "" when nothing is left.
func quotedName(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(name, "") {
		if r < 0x20 || r == 0x7f || n == 64 {
			continue
		}
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		return ""
	}

	return `"` + b.String() + `"`
}
