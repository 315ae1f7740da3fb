package sipws

import (
	"net/url"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// call is the client's dialog of one call, the browser side of the
// back-to-back user agent: the trunk's dialog is the gateway's. Its
// fields are guarded by the connection's mutex.
type call struct {
	id        string // the gateway's call id
	user      string
	door      Door
	inbound   bool
	sipCallID string
	localTag  string
	cseq      uint32 // our last CSeq in this dialog
	remoteURI string // the client's Contact: the Request-URI of our requests
	// remoteTo is the client's side as our requests name it in To, tag
	// included; localFrom is ours, for From.
	remoteTo, localFrom string

	// Outbound (the client's INVITE): the request, whether its final
	// response went out, and the gateway's SDP answer.
	invite    *sipmsg.Request
	finalSent bool
	answer    string
	sent183   bool
	// reinvite is a re-INVITE waiting for the gateway's answer.
	reinvite *sipmsg.Request
	held     bool
	// reofferDir is the direction of the re-INVITE's offer.
	reofferDir string

	// Inbound (our INVITE to the client): its branch and Request-URI,
	// whether the client answered it, whether we cancelled it.
	branch    string
	ruri      string
	accepted  bool
	acked     bool
	cancelled bool
	byeRecv   bool
}

// contact is our Contact header (RFC 7118 section 5.3).
func (c *conn) contact() string { return "Contact: <sip:webtrunk@" + c.host + ";transport=ws>" }

// track records cl under both its ids.
func (c *conn) track(cl *call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[cl.id] = cl
	c.sipID[cl.sipCallID] = cl
}

// forget removes cl.
func (c *conn) forget(cl *call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls[cl.id] == cl {
		delete(c.calls, cl.id)
	}
	if c.sipID[cl.sipCallID] == cl {
		delete(c.sipID, cl.sipCallID)
	}
}

// bySIP returns the call of a SIP Call-ID.
func (c *conn) bySIP(id string) *call {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.sipID[id]
}

// byID returns the call of a gateway call id.
func (c *conn) byID(id string) *call {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.calls[id]
}

// invite handles a new INVITE from the client (RFC 3261 section 13.3): a
// call through the gateway to the number of the Request-URI's user part,
// with the client's WebRTC offer. 407 without credentials; 488 with a
// Warning without an SDP offer.
func (c *conn) invite(req *sipmsg.Request) {
	id, ok := c.authenticate(req)
	if !ok {
		return
	}
	user := id.UserID
	tag := token(8)
	if len(req.Body()) == 0 {
		c.reply(req, 488, "Not Acceptable Here", tag, `Warning: 399 webtrunk "an SDP offer is required in the INVITE"`)

		return
	}
	if ct := req.GetHeader("Content-Type"); ct == nil || !strings.EqualFold(strings.TrimSpace(ct.Value()), "application/sdp") {
		c.reply(req, 415, "Unsupported Media Type", tag, "Accept: application/sdp")

		return
	}
	if c.bySIP(req.CallID().Value()) != nil {
		c.reply(req, 482, "Loop Detected", tag)

		return
	}
	d := c.door(id)
	if d == nil {
		c.reply(req, 503, "Service Unavailable", tag)

		return
	}
	number, err := url.PathUnescape(req.Recipient.User)
	if err != nil || number == "" {
		c.reply(req, 484, "Address Incomplete", tag)

		return
	}
	cl := &call{
		id: "sipws-" + token(8), user: user, door: d, sipCallID: req.CallID().Value(), localTag: tag,
		invite: req, remoteTo: req.From().Value(), localFrom: req.To().Value() + ";tag=" + tag,
	}
	if ct := req.Contact(); ct != nil {
		cl.remoteURI = ct.Address.String()
	}
	c.track(cl)
	c.reply(req, 100, "Trying", "")
	c.log.Info("sip invite", "user", user, "to", number, "call_id", cl.id, "sip_call_id", cl.sipCallID)
	d.Send(signaling.Dial{ID: cl.id, To: number, SDP: string(req.Body())})
}

// fromGateway handles a message of the gateway for user's door, in order,
// in the door's writer goroutine.
func (c *conn) fromGateway(user string, m signaling.Message) {
	switch m := m.(type) {
	case signaling.Incoming:
		c.ring(user, m)
	case signaling.Answer:
		c.gotAnswer(m)
	case signaling.Ringing:
		c.provisional(m.CallID, 180, "Ringing")
	case signaling.Progress:
		c.provisional(m.CallID, 183, "Session Progress")
	case signaling.Connected:
		c.connected(m.CallID)
	case signaling.ICERestarted:
		c.reanswer(m.CallID, m.SDP)
	case signaling.HangupEvent:
		c.hungUp(m)
	case signaling.ErrorReply:
		c.failed(m)
	}
}

// gotAnswer takes the gateway's SDP answer: for an outbound call it goes
// to the client at once in a 183 (so that ICE and DTLS run while the
// trunk rings), and again in the 200; for an inbound one in the ACK of
// the client's 200.
func (c *conn) gotAnswer(m signaling.Answer) {
	cl := c.byID(m.CallID)
	if cl == nil {
		return
	}
	c.mu.Lock()
	cl.answer = m.SDP
	inbound := cl.inbound
	c.mu.Unlock()
	if inbound {
		c.ack(cl, m.SDP)

		return
	}
	c.provisional(m.CallID, 183, "Session Progress")
}

// provisional sends a 180 or 183 (with the SDP answer) to the client's
// INVITE, unless its final response went out; 183 only once.
func (c *conn) provisional(id string, code int, reason string) {
	cl := c.byID(id)
	if cl == nil {
		return
	}
	c.mu.Lock()
	if cl.inbound || cl.finalSent || (code == 183 && (cl.sent183 || cl.answer == "")) {
		c.mu.Unlock()

		return
	}
	var body []byte
	if code == 183 {
		cl.sent183 = true
		body = []byte(cl.answer)
	}
	req, tag := cl.invite, cl.localTag
	c.mu.Unlock()
	c.replyBody(req, code, reason, tag, body, c.contact())
}

// connected answers the client's INVITE 200 with the SDP answer once the
// trunk answered.
func (c *conn) connected(id string) {
	cl := c.byID(id)
	if cl == nil {
		return
	}
	c.mu.Lock()
	if cl.inbound || cl.finalSent {
		c.mu.Unlock()

		return
	}
	cl.finalSent = true
	req, tag, body := cl.invite, cl.localTag, []byte(cl.answer)
	c.mu.Unlock()
	c.replyBody(req, 200, "OK", tag, body, c.contact(), allowHeader)
}

// hungUp ends the client's dialog as the gateway ended the call: a final
// response to an INVITE still pending, CANCEL to an INVITE of ours still
// ringing (with the Reason of RFC 3326 when another connection
// answered), BYE to an established dialog.
func (c *conn) hungUp(m signaling.HangupEvent) {
	cl := c.byID(m.CallID)
	if cl == nil {
		return
	}
	c.mu.Lock()
	switch {
	case !cl.inbound && !cl.finalSent:
		cl.finalSent = true
		c.mu.Unlock()
		code, reason := hangupStatus(m)
		c.refuseInvite(cl, code, reason)
	case cl.inbound && !cl.accepted:
		cl.cancelled = true
		c.mu.Unlock()
		c.cancelOurs(cl, m.Reason == signaling.ReasonAnsweredElsewhere)
	default:
		bye := !cl.byeRecv
		c.mu.Unlock()
		if bye {
			c.sendBye(cl)
		}
		c.forget(cl)
	}
}

// refuseInvite answers the client's INVITE with a failure response (code
// 300 to 699, extra headers as "Name: value") and forgets the call. The
// caller claimed the final response (finalSent) under c.mu and released
// it; the INVITE and our tag never change after the call is made.
func (c *conn) refuseInvite(cl *call, code int, reason string, extra ...string) {
	c.reply(cl.invite, code, reason, cl.localTag, extra...)
	c.forget(cl)
}

// hangupStatus is the final response to the client's INVITE of a call
// that ended before the trunk answered: the trunk's own status when it
// gave one, else one for the reason (RFC 3261 section 21).
func hangupStatus(m signaling.HangupEvent) (int, string) {
	if m.SIPCode >= 300 {
		text := m.SIPReason
		if text == "" {
			text = "Call Failed"
		}

		return m.SIPCode, text
	}
	switch m.Reason {
	case signaling.ReasonLocalHangup:
		return 487, "Request Terminated"
	case signaling.ReasonBusy:
		return 486, "Busy Here"
	case signaling.ReasonNoAnswer, signaling.ReasonRingTimeout:
		return 480, "Temporarily Unavailable"
	case signaling.ReasonRejected:
		return 603, "Decline"
	case signaling.ReasonShutdown:
		return 503, "Service Unavailable"
	case signaling.ReasonICEFailed:
		return 488, "Not Acceptable Here"
	default:
		return 500, "Server Internal Error"
	}
}

// failed handles an error the gateway answered a message of a call with:
// a refused dial becomes the INVITE's final response; a failed accept
// ends the client's dialog; a refused re-INVITE is answered 488.
func (c *conn) failed(m signaling.ErrorReply) {
	cl := c.byID(m.CallID)
	if cl == nil {
		c.log.Debug("gateway error", "code", string(m.Code), "message", m.Message)

		return
	}
	c.mu.Lock()
	switch {
	case !cl.inbound && !cl.finalSent:
		cl.finalSent = true
		c.mu.Unlock()
		code, reason, warning := errorStatus(m)
		var extra []string
		if warning != "" {
			extra = append(extra, warning)
		}
		c.log.Info("sip invite refused", "call_id", cl.id, "code", string(m.Code), "sip_code", code)
		c.refuseInvite(cl, code, reason, extra...)
	case cl.reinvite != nil:
		req := cl.reinvite
		cl.reinvite = nil
		c.mu.Unlock()
		c.reply(req, 488, "Not Acceptable Here", cl.localTag, warningHeader(m.Message))
	case cl.inbound && cl.accepted && !cl.acked:
		c.mu.Unlock()
		c.ack(cl, "")
		c.sendBye(cl)
		c.forget(cl)
	default:
		c.mu.Unlock()
		c.log.Info("gateway error on a call", "call_id", cl.id, "code", string(m.Code), "message", m.Message)
	}
}

// warningHeader is a Warning header (RFC 3261 section 20.43) with code
// 399 and text.
func warningHeader(text string) string {
	return "Warning: 399 webtrunk " + strconv.Quote(text)
}

// errorStatus maps the gateway's refusal of a dial to the INVITE's final
// response: the dial rules give 403, an unusable offer 488 with a
// Warning (305 for no common codec, RFC 3261 section 20.43), limits 486
// or 503.
func errorStatus(m signaling.ErrorReply) (int, string, string) {
	switch m.Code {
	case signaling.CodeForbiddenNumber, signaling.CodeDialDenied, signaling.CodeUserLocked, signaling.CodeUnauthorized,
		signaling.CodeLimitCallsPerMinute, signaling.CodeLimitConcurrentCalls, signaling.CodeLimitDailyMinutes,
		signaling.CodeLimitPrefix:
		return 403, "Forbidden", warningHeader(m.Message)
	case signaling.CodeInvalidNumber:
		return 484, "Address Incomplete", warningHeader(m.Message)
	case signaling.CodeNoCommonCodec:
		return 488, "Not Acceptable Here", "Warning: 305 webtrunk " + strconv.Quote("Incompatible media format: "+m.Message)
	case signaling.CodeBadRequest:
		return 488, "Not Acceptable Here", warningHeader(m.Message)
	case signaling.CodeTooManyCalls, signaling.CodeBusy:
		return 486, "Busy Here", warningHeader(m.Message)
	case signaling.CodeOverCapacity, signaling.CodeShuttingDown, signaling.CodeTrunkUnavailable, signaling.CodeTryLater:
		return 503, "Service Unavailable", warningHeader(m.Message)
	default:
		return 500, "Server Internal Error", warningHeader(m.Message)
	}
}

// bye handles the client's BYE: 200, and the gateway hangs up.
func (c *conn) bye(req *sipmsg.Request) {
	cl := c.bySIP(req.CallID().Value())
	if cl == nil {
		c.reply(req, 481, "Call/Transaction Does Not Exist", "")

		return
	}
	c.mu.Lock()
	cl.byeRecv = true
	c.mu.Unlock()
	c.reply(req, 200, "OK", "")
	cl.door.Send(signaling.Hangup{CallID: cl.id})
}

// cancelInvite handles the client's CANCEL of its INVITE (RFC 3261
// section 9.2): 200 to the CANCEL; the gateway hangs up and the INVITE
// gets 487.
func (c *conn) cancelInvite(req *sipmsg.Request) {
	cl := c.bySIP(req.CallID().Value())
	if cl == nil || cl.inbound {
		c.reply(req, 481, "Call/Transaction Does Not Exist", "")

		return
	}
	c.reply(req, 200, "OK", "")
	cl.door.Send(signaling.Hangup{CallID: cl.id})
}

// info handles INFO with a digit (application/dtmf-relay, as JsSIP sends
// by default, or application/dtmf): the gateway sends it to the trunk as
// RFC 4733 telephone-events.
func (c *conn) info(req *sipmsg.Request) {
	cl := c.bySIP(req.CallID().Value())
	if cl == nil {
		c.reply(req, 481, "Call/Transaction Does Not Exist", "")

		return
	}
	ct := ""
	if h := req.GetHeader("Content-Type"); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	digit := ""
	switch ct {
	case "application/dtmf-relay":
		for line := range strings.Lines(string(req.Body())) {
			k, v, _ := strings.Cut(line, "=")
			if strings.EqualFold(strings.TrimSpace(k), "signal") {
				digit = strings.TrimSpace(v)
			}
		}
	case "application/dtmf":
		digit = strings.TrimSpace(string(req.Body()))
	default:
		c.reply(req, 415, "Unsupported Media Type", "", "Accept: application/dtmf-relay, application/dtmf")

		return
	}
	if len(digit) != 1 || !strings.Contains("0123456789*#ABCDabcd", digit) {
		c.reply(req, 400, "Bad Request", "", warningHeader("one DTMF digit expected"))

		return
	}
	c.reply(req, 200, "OK", "")
	cl.door.Send(signaling.DTMF{CallID: cl.id, Digits: strings.ToUpper(digit)})
}

// reinvite handles a re-INVITE of the client (RFC 3261 section 14.2): its
// offer is applied to the call's WebRTC leg and answered; a=sendonly or
// a=inactive holds the call at the trunk, a=sendrecv resumes it (RFC 3264
// section 8.4).
func (c *conn) reinvite(req *sipmsg.Request) {
	cl := c.bySIP(req.CallID().Value())
	if cl == nil {
		c.reply(req, 481, "Call/Transaction Does Not Exist", "")

		return
	}
	if len(req.Body()) == 0 {
		c.reply(req, 488, "Not Acceptable Here", "", warningHeader("a re-INVITE needs an SDP offer"))

		return
	}
	sdp := string(req.Body())
	hold := strings.Contains(sdp, "a=sendonly") || strings.Contains(sdp, "a=inactive")
	c.mu.Lock()
	if cl.reinvite != nil {
		c.mu.Unlock()
		c.reply(req, 491, "Request Pending", "")

		return
	}
	cl.reinvite = req
	cl.reofferDir = offerDirection(sdp)
	change := hold != cl.held
	cl.held = hold
	c.mu.Unlock()
	cl.door.Send(signaling.ICERestart{CallID: cl.id, SDP: sdp})
	if change {
		if hold {
			cl.door.Send(signaling.Hold{CallID: cl.id})
		} else {
			cl.door.Send(signaling.Resume{CallID: cl.id})
		}
	}
}

// reanswer answers the pending re-INVITE with the leg's new answer.
func (c *conn) reanswer(id, sdp string) {
	cl := c.byID(id)
	if cl == nil {
		return
	}
	c.mu.Lock()
	req, dir := cl.reinvite, cl.reofferDir
	cl.reinvite = nil
	c.mu.Unlock()
	if req != nil {
		c.replyBody(req, 200, "OK", "", []byte(answerDirection(sdp, dir)), c.contact())
	}
}

// offerDirection is the direction attribute of an offer's media, sendrecv
// when it has none (RFC 3264 section 5.1).
func offerDirection(sdp string) string {
	for line := range strings.Lines(sdp) {
		switch d := strings.TrimSpace(line); d {
		case "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv":
			return d[2:]
		}
	}

	return "sendrecv"
}

// answerDirection makes an answer's direction agree with the offer's
// (RFC 3264 section 6.1): to a sendonly offer the gateway receives only,
// to an inactive one it is inactive. The WebRTC leg keeps sending (the
// gateway mutes a held call itself), so its answer says sendrecv.
func answerDirection(answer, offer string) string {
	want := ""
	switch offer {
	case "sendonly":
		want = "a=recvonly"
	case "inactive":
		want = "a=inactive"
	default:
		return answer
	}
	var b strings.Builder
	for line := range strings.Lines(answer) {
		switch strings.TrimSpace(line) {
		case "a=sendrecv", "a=sendonly", "a=recvonly":
			b.WriteString(want + "\r\n")
		default:
			b.WriteString(line)
		}
	}

	return b.String()
}
