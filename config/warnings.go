package config

import (
	"strconv"

	"golang.org/x/crypto/bcrypt"
)

// Warnings returns advice about a valid configuration that works but is
// probably not what the operator wants, one "path: message" string each,
// meant to be logged at start-up. Examples: empty dial rules (nobody can
// call out), no outbound rules, a trunk that cannot pass the inbound source
// check, a weak bcrypt cost, HTTP without TLS on a non-loopback address
// (browsers only grant microphone access to HTTPS pages and localhost), or
// a calls.max_concurrent above what the RTP port range can carry.
func (c *Config) Warnings() []string {
	var w []string
	add := func(path, msg string) { w = append(w, path+": "+msg) }
	if a, _, err := parseListen(c.HTTP.Listen); err == nil && !c.HTTP.TLS.Enabled() && !a.IsLoopback() {
		add("http.tls", "not set while http.listen is not a loopback address; browsers grant microphone access only to HTTPS pages and localhost")
	}
	if a, _, err := parseListen(c.HTTP.Listen); err == nil && (!a.IsValid() || a.IsUnspecified()) && c.HTTP.PublicURL == "" {
		add("http.public_url", "not set while http.listen binds every interface: pages served under a host name cannot open the WebSocket unless their origin is in http.allowed_origins")
	}
	if len(c.DefaultDialRules.Allow) == 0 && (c.Auth.JWT.Enabled() || c.userWithoutAllow()) {
		add("default_dial_rules.allow", "empty: users without their own dial_rules and users authenticated by JWT cannot call any number")
	}
	if len(c.Outbound) == 0 {
		add("outbound", "no rules: no outbound call can be placed")
	}
	for i := range c.Trunks {
		t := &c.Trunks[i]
		if len(t.AllowedSources) == 0 && t.Inbound.Digest.Username == "" {
			add("trunks["+strconv.Itoa(i)+"].allowed_sources", "empty and host is not an IP address: inbound INVITEs from this trunk are not accepted")
		}
	}
	for i := range c.Auth.Users {
		u := &c.Auth.Users[i]
		path := "auth.users[" + strconv.Itoa(i) + "]"
		if cost, err := bcrypt.Cost([]byte(u.PasswordHash.Reveal())); err == nil && cost < bcrypt.DefaultCost {
			add(path+".password_hash", "bcrypt cost "+strconv.Itoa(cost)+" is below "+strconv.Itoa(bcrypt.DefaultCost))
		}
		if u.DialRules != nil && len(u.DialRules.Allow) == 0 && len(c.DefaultDialRules.Allow) > 0 {
			add(path+".dial_rules.allow", "empty: this user cannot call any number")
		}
	}
	w = append(w, c.inboundWarnings()...)
	if pairs := c.SIP.RTP.Pairs(); c.Calls.MaxConcurrent > pairs {
		add("calls.max_concurrent", strconv.Itoa(c.Calls.MaxConcurrent)+" is more than the "+strconv.Itoa(pairs)+
			" RTP port pairs of sip.rtp: each call takes one pair, so calls beyond that fail instead of being refused")
	}
	for i, a := range c.WebRTC.PublicIPs {
		if a.IsLoopback() && !isLoopbackListen(c.WebRTC.UDPListen) {
			add("webrtc.public_ips["+strconv.Itoa(i)+"]", "a loopback address is only reachable by browsers on this machine")
		}
	}
	return w
}

// userWithoutAllow reports whether a configured user has no dial rules or
// an empty allow list.
func (c *Config) userWithoutAllow() bool {
	for i := range c.Auth.Users {
		r := c.Auth.Users[i].DialRules
		if r == nil || len(r.Allow) == 0 {
			return true
		}
	}
	return false
}

// isLoopbackListen reports whether a bind address is on a loopback IP.
func isLoopbackListen(s string) bool {
	a, _, err := parseListen(s)
	return err == nil && a.IsLoopback()
}
