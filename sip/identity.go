package sip

import (
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// IdentityHeader is how the caller's identity is given to a trunk on outbound calls
// (Trunk.Identity).
type IdentityHeader string

const (
	// IdentityFrom presents the caller in From only. It is the default ("").
	IdentityFrom IdentityHeader = "from"
	// IdentityPAI adds P-Asserted-Identity with the caller's number (RFC 3325 section 9.1), as a
	// gateway of the trunk's trust domain asserts it.
	IdentityPAI IdentityHeader = "pai"
	// IdentityRPID adds Remote-Party-ID (draft-ietf-sip-privacy-04 section 6, the predecessor of
	// RFC 3325 many carriers still read) with party=calling and screen=yes.
	IdentityRPID IdentityHeader = "rpid"
)

// anonymousHost is the host of the anonymous From of a withheld caller (RFC 3323 section
// 4.1.1.3).
const anonymousHost = "anonymous.invalid"

// anonymousFrom returns the From of a call whose caller is withheld: display name Anonymous,
// sip:anonymous@anonymous.invalid, and a new tag (RFC 3323 section 4.1.1.3).
func anonymousFrom() *sipmsg.FromHeader {
	from := &sipmsg.FromHeader{DisplayName: "Anonymous", Address: sipmsg.Uri{Scheme: "sip", User: "anonymous", Host: anonymousHost}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", newID())
	return from
}

// applyIdentity writes the caller's identity into an outbound INVITE built by buildInvite: an
// anonymous From when withheld (RFC 3323 section 4.1.1.3), then the headers of identityHeaders.
func applyIdentity(inv *sipmsg.Request, t *trunk, display, callerUser string, withheld bool) {
	if withheld {
		inv.RemoveHeader("From")
		inv.AppendHeader(anonymousFrom())
	}
	for _, h := range identityHeaders(t, display, callerUser, withheld) {
		inv.AppendHeader(h)
	}
}

// identityHeaders returns the identity headers of an outbound INVITE through trunk t for the
// caller user part callerUser (already safe, see numberUser) with display name display (quoted
// by quoteDisplayName here): P-Asserted-Identity or Remote-Party-ID as t.Identity says, and
// Privacy: id when withheld (RFC 3323 section 4.2, RFC 3325 section 9.3). A caller of
// "anonymous" (no caller ID at all) gets no asserted identity.
func identityHeaders(t *trunk, display, callerUser string, withheld bool) []sipmsg.Header {
	var hs []sipmsg.Header
	asserted := callerUser != "" && callerUser != "anonymous"
	name := ""
	if d := quoteDisplayName(display); d != "" && !withheld {
		name = `"` + d + `" `
	}
	uri := "<sip:" + callerUser + "@" + t.Host + ">"
	switch {
	case !asserted:
	case t.Identity == IdentityPAI:
		hs = append(hs, sipmsg.NewHeader("P-Asserted-Identity", name+uri))
	case t.Identity == IdentityRPID:
		privacy := "off"
		if withheld {
			privacy = "full"
		}
		hs = append(hs, sipmsg.NewHeader("Remote-Party-ID", name+uri+";party=calling;screen=yes;privacy="+privacy))
	}
	if withheld {
		hs = append(hs, sipmsg.NewHeader("Privacy", "id"))
	}
	return hs
}

// CallerIdentity is what an inbound INVITE says about its caller and about the call's way to
// the gateway.
type CallerIdentity struct {
	// Number is the calling number: from P-Asserted-Identity (RFC 3325 section 9.1) when the
	// trunk is trusted (Trunk.TrustIdentity) and the header is present, else from From; E.164
	// when the trunk's numbering plan can read it. "anonymous" when withheld.
	Number string
	// DisplayName is the caller's name, made safe by DisplayName; "" when absent or withheld.
	DisplayName string
	// Withheld is true when the caller asked for privacy: a Privacy header with id, header or
	// user (RFC 3323 section 4.2, RFC 3325 section 9.3), or an anonymous From.
	Withheld bool
	// Asserted is true when Number came from P-Asserted-Identity.
	Asserted bool
	// Diversion lists the Diversion headers (RFC 5806), first (most recent) first.
	Diversion []Redirection
	// History lists the entries of History-Info (RFC 7044), in order.
	History []Redirection
}

// Redirection is one entry of a Diversion or History-Info header.
type Redirection struct {
	// Number is the redirecting (Diversion) or targeted (History-Info) party's number, E.164
	// when the trunk's plan can read it, else the URI's user part made safe by DisplayName.
	Number string
	// Reason is the Diversion reason parameter ("unconditional", "no-answer", ...) or the
	// History-Info cause (the cause URI parameter of RFC 4458, as digits), made safe; "" when
	// absent.
	Reason string
	// Index is the History-Info index parameter ("1.1"); "" for Diversion.
	Index string
}

// maxRedirections bounds how many Diversion or History-Info entries are read.
const maxRedirections = 10

// Identity returns what the INVITE says about the caller (see CallerIdentity).
func (ic *IncomingCall) Identity() CallerIdentity {
	req := ic.sess.InviteRequest
	t := ic.call.trunk
	id := CallerIdentity{Number: ic.From(), DisplayName: ic.FromDisplayName()}
	if t.TrustIdentity {
		if h := req.GetHeader("P-Asserted-Identity"); h != nil {
			for _, v := range splitHeaderList(h.Value()) {
				name, user, _ := parseAddress(v)
				if user == "" {
					continue
				}
				id.Number, id.Asserted = userNumber(t, user), true
				if name != "" {
					id.DisplayName = name
				}
				break
			}
		}
	}
	for _, h := range req.GetHeaders("Privacy") {
		for _, v := range strings.Split(h.Value(), ";") {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "id", "header", "user":
				id.Withheld = true
			}
		}
	}
	if f := req.From(); f != nil && (strings.EqualFold(f.Address.User, "anonymous") || strings.EqualFold(f.Address.Host, anonymousHost)) && !id.Asserted {
		id.Withheld = true
	}
	if id.Withheld {
		id.Number, id.DisplayName = "anonymous", ""
	}
	id.Diversion = redirections(t, req, "Diversion", "reason", "")
	id.History = redirections(t, req, "History-Info", "", "index")
	return id
}

// redirections reads up to maxRedirections entries of the headers called name: each entry's
// number, the reason from the header parameter reasonParam (or the URI's cause parameter when
// reasonParam is ""), and the index from the header parameter indexParam when set.
func redirections(t *trunk, req *sipmsg.Request, name, reasonParam, indexParam string) []Redirection {
	var out []Redirection
	for _, h := range req.GetHeaders(name) {
		for _, v := range splitHeaderList(h.Value()) {
			if len(out) == maxRedirections {
				return out
			}
			_, user, params := parseAddress(v)
			if user == "" {
				continue
			}
			r := Redirection{Number: DisplayName(userNumber(t, user))}
			if reasonParam != "" {
				r.Reason = DisplayName(strings.Trim(params[reasonParam], `"`))
			} else {
				r.Reason = DisplayName(params["cause"])
			}
			if indexParam != "" {
				r.Index = DisplayName(params[indexParam])
			}
			out = append(out, r)
		}
	}
	return out
}

// splitHeaderList splits a header value holding a comma-separated list of name-addr values,
// leaving commas inside quotes and angle brackets alone.
func splitHeaderList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// parseAddress reads one name-addr or addr-spec (RFC 3261 section 25.1) with a sip, sips or tel
// URI: the display name (made safe by DisplayName), the URI's user part (the number of a tel
// URI, RFC 3966) and the parameters, both of the header and of the URI, lower-cased names. user
// is "" when the value cannot be read.
func parseAddress(v string) (name, user string, params map[string]string) {
	params = map[string]string{}
	if i := strings.Index(strings.ToLower(v), "tel:"); i >= 0 {
		rest := v[i+len("tel:"):]
		end := strings.IndexAny(rest, ">;")
		if end < 0 {
			end = len(rest)
		}
		user = rest[:end]
		if lt := strings.IndexByte(v[:i], '<'); lt > 0 {
			name = DisplayName(unquoteDisplayName(strings.Trim(strings.TrimSpace(v[:lt]), `"`)))
		}
		readParams(rest[end:], params)
		return name, user, params
	}
	var uri sipmsg.Uri
	hp := sipmsg.NewParams()
	dn, err := sipmsg.ParseAddressValue(v, &uri, &hp)
	if err != nil {
		return "", "", params
	}
	for k, val := range uri.UriParams.Items() {
		params[strings.ToLower(k)] = val
	}
	for k, val := range hp.Items() {
		params[strings.ToLower(k)] = val
	}
	return DisplayName(unquoteDisplayName(dn)), uri.User, params
}

// readParams adds the ";name=value" parameters of s (after a URI or a ">") to params.
func readParams(s string, params map[string]string) {
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(strings.TrimPrefix(p, ">"))
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		params[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
}
