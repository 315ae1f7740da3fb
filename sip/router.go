package sip

import (
	"net"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// allowMethods is the Allow header value (RFC 3261 section 20.5) of this user agent.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"

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
	ua.log.Warn("sip request from unknown source", "method", string(req.Method), "source", req.Source(),
		"rejected", ua.cfg.RejectUnknownSources)
	if ua.cfg.RejectUnknownSources {
		ua.respond(tx, req, 403, "Forbidden")
	}
	return nil
}

// dialogOrReject returns the call of the dialog req belongs to, or nil after answering 481
// (RFC 3261 section 12.2.2).
func (ua *UA) dialogOrReject(req *sipmsg.Request, tx sipmsg.ServerTransaction) *Call {
	c := ua.lookupDialog(req)
	if c == nil {
		ua.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
	return c
}

func (ua *UA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); !inDialog {
		ua.onNewInvite(req, tx)
	} else if c := ua.dialogOrReject(req, tx); c != nil {
		c.onReinvite(req, tx)
	}
}

func (ua *UA) onAck(req *sipmsg.Request, _ sipmsg.ServerTransaction) {
	if c := ua.lookupDialog(req); c != nil {
		c.onAck(req)
	}
}

func (ua *UA) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := ua.dialogOrReject(req, tx); c != nil {
		c.onBye(req, tx)
	}
}

// onCancel sees only CANCELs that match no INVITE transaction (sipgo answers the others with
// 200 and the INVITE with 487): RFC 3261 section 9.2 asks for 481.
func (ua *UA) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ua.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onOptions answers keepalive probes (RFC 3261 section 11) from trunks and inside dialogs.
func (ua *UA) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); inDialog {
		if ua.dialogOrReject(req, tx) == nil {
			return
		}
	} else if ua.acceptSource(req, tx) == nil {
		return
	}
	code, reason := 200, "OK"
	if ua.draining.Load() {
		code, reason = 503, "Service Unavailable"
	}
	ua.respond(tx, req, code, reason,
		sipmsg.NewHeader("Allow", allowMethods),
		sipmsg.NewHeader("Accept", "application/sdp"),
		sipmsg.NewHeader("Supported", "timer"))
}

func (ua *UA) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := ua.dialogOrReject(req, tx); c != nil {
		c.onUpdate(req, tx)
	}
}

// onNoRoute answers methods this user agent does not implement with 405 and Allow (RFC 3261 section 21.4.6).
func (ua *UA) onNoRoute(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, inDialog := inDialogKey(req); !inDialog && ua.acceptSource(req, tx) == nil {
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

func sourceAddr(req *sipmsg.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		host, _, _ := net.SplitHostPort(req.Source())
		ip, _ := netip.ParseAddr(host)
		return ip.Unmap()
	}
	return ap.Addr().Unmap()
}

// trunkForSource returns the first trunk whose AllowedSources contain ip.
func (ua *UA) trunkForSource(ip netip.Addr) *trunk {
	if !ip.IsValid() {
		return nil
	}
	for _, t := range ua.trunks {
		for _, p := range t.AllowedSources {
			if p.Contains(ip) {
				return t
			}
		}
	}
	return nil
}
