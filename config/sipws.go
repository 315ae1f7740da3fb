package config

import (
	"fmt"
	"strconv"
	"time"
)

// Digest algorithms of SIPWebSocketConfig.DigestAlgorithms (RFC 7616
// section 3.3, RFC 8760).
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// SIPWebSocketConfig is the SIP over WebSocket front door (RFC 7118) for
// existing SIP softphones such as JsSIP and SIP.js (docs/sip-websocket.md).
// Users register as sip:USER@Domain with digest authentication against
// their auth.users[].sip_password.
type SIPWebSocketConfig struct {
	// Path is the URL path on the HTTP listener (http.listen) where SIP
	// over WebSocket is served, with subprotocol "sip", such as "/sip".
	// Empty: no SIP over WebSocket. Default empty.
	Path string `yaml:"path"`
	// Domain is the host part users register under and the digest realm
	// (RFC 3261 section 22.1). Default "webtrunk".
	Domain string `yaml:"domain"`
	// DigestAlgorithms are the digest challenges sent, one
	// WWW-Authenticate or Proxy-Authenticate header each, in this order
	// (most preferred first, RFC 8760 section 2.4): "SHA-256" and "MD5"
	// (RFC 7616). JsSIP 3.13 and SIP.js 0.21 keep only the last such
	// header and answer only MD5, so MD5 must come last for them.
	// Default [SHA-256, MD5].
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// MaxRegistrationsPerUser bounds the contacts one user holds at once,
	// over all its connections (1 to 100); a REGISTER beyond it is
	// answered 403. Default 5.
	MaxRegistrationsPerUser int `yaml:"max_registrations_per_user"`
	// MaxExpires is the longest registration granted; a longer Expires is
	// shortened to it (RFC 3261 section 10.3), from 1m to 24h. Default 1h.
	MaxExpires time.Duration `yaml:"max_expires"`
	// MessagesPerSecond bounds the SIP messages one connection sends per
	// second, with bursts of twice as many (1 to 1000); a connection
	// over it is closed with status 1008. Default 20.
	MessagesPerSecond int `yaml:"messages_per_second"`
}

// Enabled reports whether SIP over WebSocket is served.
func (s SIPWebSocketConfig) Enabled() bool { return s.Path != "" }

// SIPWebSocketDefault returns the defaults of the sip_websocket section.
func SIPWebSocketDefault() SIPWebSocketConfig {
	return SIPWebSocketConfig{
		Domain:                  "webtrunk",
		DigestAlgorithms:        []string{DigestSHA256, DigestMD5},
		MaxRegistrationsPerUser: 5,
		MaxExpires:              time.Hour,
		MessagesPerSecond:       20,
	}
}

// validateSIPWebSocket checks the sip_websocket section and the users'
// sip_password.
func (c *Config) validateSIPWebSocket(p *problems) {
	s := &c.SIPWebSocket
	switch path := s.Path; {
	case path == "":
	case path[0] != '/' || !printable(path):
		p.add("sip_websocket.path", "must start with / and be printable ASCII")
	case path == "/" || path == "/ws" || path == "/healthz" || path == "/readyz" || path == c.Metrics.Path:
		p.add("sip_websocket.path", fmt.Sprintf("%q is used by the gateway itself", path))
	}
	if s.Domain == "" || !printable(s.Domain) {
		p.add("sip_websocket.domain", "must be a printable host name")
	}
	if len(s.DigestAlgorithms) == 0 {
		p.add("sip_websocket.digest_algorithms", "at least one of MD5, SHA-256")
	}
	for i, a := range s.DigestAlgorithms {
		checkOneOf(p, "sip_websocket.digest_algorithms["+strconv.Itoa(i)+"]", a, DigestMD5, DigestSHA256)
	}
	checkIntRange(p, "sip_websocket.max_registrations_per_user", s.MaxRegistrationsPerUser, 1, 100)
	checkRange(p, "sip_websocket.max_expires", s.MaxExpires, time.Minute, 24*time.Hour)
	checkIntRange(p, "sip_websocket.messages_per_second", s.MessagesPerSecond, 1, 1000)
	for i := range c.Auth.Users {
		u := &c.Auth.Users[i]
		if n := u.SIPPassword.Len(); n > 0 && n < minSIPPasswordLen {
			p.add("auth.users["+strconv.Itoa(i)+"].sip_password", fmt.Sprintf("must be at least %d characters", minSIPPasswordLen))
		}
	}
}

// minSIPPasswordLen is the shortest SIP password accepted: digest
// responses can be guessed offline from one captured exchange.
const minSIPPasswordLen = 12
