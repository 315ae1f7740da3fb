package sip

import (
	"net"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// allowMethods is the Allow header value (RFC 3261 section 20.5) of this user agent.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO, NOTIFY"

// dialogKey identifies a dialog by Call-ID and the local and remote tags (RFC 3261 section 12).
func dialogKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// inDialogKey returns the dialog key of a request received inside a dialog, whose To tag is
// ours and From tag the peer's; ok is false for a request without a To tag (out of dialog).
func inDialogKey(req *sipmsg.Request) (key string, ok bool) {
	to, from, cid := req.To(), req.From(), req.CallID()
	if to == nil || from == nil || cid == nil {
		return "", false
	}
	local, ok := to.Params.Get("tag")
	if !ok || local == "" {
		return "", false
	}
	remote, _ := from.Params.Get("tag")
	return dialogKey(cid.Value(), local, remote), true
}

func (ua *UA) lookupDialog(req *sipmsg.Request) *Call {
	key, ok := inDialogKey(req)
	if !ok {
		return nil
	}
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return ua.dialogs[key]
}

func (ua *UA) addDialog(key string, c *Call) {
	ua.mu.Lock()
	ua.dialogs[key] = c
	ua.mu.Unlock()
}

func (ua *UA) removeDialog(key string, c *Call) {
	ua.mu.Lock()
	if ua.dialogs[key] == c {
		delete(ua.dialogs, key)
	}
	ua.mu.Unlock()
}

// respond sends a response built from req with our Server header plus extra headers.
func (ua *UA) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string, extra ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sipmsg.NewHeader("Server", ua.cfg.UserAgent))
	for _, h := range extra {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		ua.log.Debug("sip respond failed", "code", code, "method", string(req.Method), "error", err)
	}
}

// acceptSource applies the source policy to an out-of-dialog request: it returns the trunk the
// source belongs to, or nil after answering 403 or staying silent (Config.RejectUnknownSources).
func (ua *UA) acceptSource(req *sipmsg.Request, tx sipmsg.ServerTransaction) *trunk {
	src := sourceAddr(req)
	if t := ua.trunkForSource(src); t != nil {
		return t
	}
	ua.refuseUnknown(req, tx, src)
	return nil
}

// refuseUnknown answers a request from an address no trunk allows with 403, or drops it
// (Config.RejectUnknownSources), counting it and logging at most once per source and interval.
func (ua *UA) refuseUnknown(req *sipmsg.Request, tx sipmsg.ServerTransaction, src netip.Addr) {
	ua.counters.unknownSource.Add(1)
	ua.refusals.refused(src, "sip request from unknown source", "method", string(req.Method), "source", req.Source(),
		"rejected", ua.cfg.RejectUnknownSources)
	if ua.cfg.RejectUnknownSources && req.Method != sipmsg.ACK {
		ua.respond(tx, req, 403, "Forbidden")
	}
}

// dialogOf returns the call of the dialog an in-dialog request belongs to, once the request
// passed the dialog's source check (see Call.admits); otherwise it answers and returns nil: 403
// for a request the dialog's trunk did not send (the call is not touched), the unknown-source
// policy for a request from an address no trunk allows that matches no dialog, and 481 for an
// unknown dialog (RFC 3261 section 12.2.2). An ACK is never answered.
func (ua *UA) dialogOf(req *sipmsg.Request, tx sipmsg.ServerTransaction) *Call {
	c := ua.lookupDialog(req)
	if c != nil && c.admits(req) {
		return c
	}
	src := sourceAddr(req)
	if c != nil {
		ua.counters.foreignInDialog.Add(1)
		ua.refusals.refused(src, "sip in-dialog request not from the dialog's trunk", "method", string(req.Method),
			"source", req.Source(), "transport", req.Transport(), "call", c.id)
		if req.Method != sipmsg.ACK {
			ua.respond(tx, req, 403, "Forbidden")
		}
		return nil
	}
	if ua.trunkForSource(src) == nil {
		ua.refuseUnknown(req, tx, src)
		return nil
	}
	if req.Method != sipmsg.ACK {
		ua.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
	return nil
}

func (ua *UA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); !inDialog {
		ua.onNewInvite(req, tx)
	} else if c := ua.dialogOf(req, tx); c != nil {
		c.onReinvite(req, tx)
	}
}

func (ua *UA) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := ua.dialogOf(req, tx); c != nil {
		c.onAck(req)
	}
}

// inDialog returns the handler of a method that only makes sense inside a dialog: the request
// goes to handle on the call of its dialog once dialogOf admitted it (dialogOf answers or drops
// the others).
func (ua *UA) inDialog(handle func(*Call, *sipmsg.Request, sipmsg.ServerTransaction)) func(*sipmsg.Request, sipmsg.ServerTransaction) {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if c := ua.dialogOf(req, tx); c != nil {
			handle(c, req, tx)
		}
	}
}

// onCancel sees only CANCELs that match no INVITE transaction (sipgo answers the others with
// 200 and the INVITE with 487, once screenCancel let them through): RFC 3261 section 9.2 asks
// for 481. A CANCEL from an address no trunk allows gets the unknown-source policy.
func (ua *UA) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if ua.acceptSource(req, tx) == nil {
		return
	}
	ua.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// admitted reports whether a request that may come inside a dialog or outside one passes the
// source check that applies: the dialog's (dialogOf) inside one, the trunks' (acceptSource)
// outside. When it does not, the request has been answered, or left unanswered, as they say.
func (ua *UA) admitted(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	if _, inDialog := inDialogKey(req); inDialog {
		return ua.dialogOf(req, tx) != nil
	}
	return ua.acceptSource(req, tx) != nil
}

// onOptions answers keepalive probes (RFC 3261 section 11) from trunks and inside dialogs.
func (ua *UA) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !ua.admitted(req, tx) {
		return
	}
	code, reason := 200, "OK"
	if ua.draining.Load() {
		code, reason = 503, "Service Unavailable"
	}
	ua.respond(tx, req, code, reason,
		sipmsg.NewHeader("Allow", allowMethods),
		sipmsg.NewHeader("Accept", "application/sdp"),
		sipmsg.NewHeader("Supported", "timer, "+option100rel))
}

// onNoRoute answers methods this user agent does not implement with 405 and Allow (RFC 3261 section 21.4.6).
// Inside a dialog (REFER, NOTIFY, MESSAGE) the request must pass the dialog's source check.
func (ua *UA) onNoRoute(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !ua.admitted(req, tx) {
		return
	}
	ua.respond(tx, req, 405, "Method Not Allowed", sipmsg.NewHeader("Allow", allowMethods))
}

// headerValue returns the value of the first header called name, "" when absent.
func headerValue(m interface{ GetHeader(string) sipmsg.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

// hasOptionTag reports whether a Supported or Require header lists tag (RFC 3261 section 20.37).
func hasOptionTag(m interface{ GetHeaders(string) []sipmsg.Header }, header, tag string) bool {
	for _, h := range m.GetHeaders(header) {
		for _, v := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(v), tag) {
				return true
			}
		}
	}
	return false
}

// sourceAddr returns the IP address a message was received from.
func sourceAddr(m interface{ Source() string }) netip.Addr {
	ap, err := netip.ParseAddrPort(m.Source())
	if err != nil {
		host, _, _ := net.SplitHostPort(m.Source())
		ip, _ := netip.ParseAddr(host)
		return ip.Unmap()
	}
	return ap.Addr().Unmap()
}

// trunkForSource returns the first trunk whose AllowedSources contain ip.
func (ua *UA) trunkForSource(ip netip.Addr) *trunk {
	for _, t := range ua.trunkList() {
		if t.allows(ip) {
			return t
		}
	}
	return nil
}

// allows reports whether ip is in the trunk's AllowedSources.
func (t *trunk) allows(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range t.AllowedSources {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sameFamily reports whether two transports are both datagram (UDP) or both stream (TCP, TLS):
// a dialog's requests arrive over the transport family it was set up on.
func sameFamily(a, b telephony.Transport) bool {
	return (a == telephony.TransportUDP) == (b == telephony.TransportUDP)
}
