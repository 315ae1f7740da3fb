package config

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/telephony"
)

// ValidUserID reports whether s is a user id: 1 to 128 characters of A-Z,
// a-z, 0-9, '.', '_', '@' and '-'. Configured users and the subject of a
// login token share this syntax.
func ValidUserID(s string) bool {
	return s != "" && len(s) <= 128 && allBytes(s, func(c byte) bool {
		return isLetter(c) || isDigit(c) || c == '.' || c == '_' || c == '@' || c == '-'
	})
}

func (c *Config) validateAuth(p *problems) {
	a := &c.Auth
	if a.JWT.Enabled() && a.JWT.HMACKey.Len() < minHMACKeyLen {
		p.add("auth.jwt.hmac_key", fmt.Sprintf("must be at least %d bytes (RFC 7518 section 3.2)", minHMACKeyLen))
	}
	checkIntRange(p, "auth.max_connections_per_user", a.MaxConnectionsPerUser, 1, 1000)
	if !a.JWT.Enabled() && len(a.Users) == 0 {
		p.add("auth", "no way to log in: set auth.jwt.hmac_key, auth.users, or both")
	}
	ids := map[string]string{}
	for i := range a.Users {
		u := &a.Users[i]
		path := "auth.users[" + strconv.Itoa(i) + "]"
		checkKey(p, path, "id", u.ID, ValidUserID, "1 to 128 characters of A-Z, a-z, 0-9, ., _, @ and -", ids)
		if u.PasswordHash.IsZero() {
			p.add(path+".password_hash", "required")
		} else if _, err := bcrypt.Cost([]byte(u.PasswordHash.Reveal())); err != nil {
			p.add(path+".password_hash", `must be a bcrypt hash ("$2a$..." or "$2b$..."), never a plain password`)
		}
		if !printable(u.DisplayName) && u.DisplayName != "" {
			p.add(path+".display_name", "must be printable ASCII")
		}
		checkE164(p, path+".caller_id", u.CallerID)
		validateDialRules(p, path+".dial_rules", u.DialRules)
		if u.MaxCalls < 0 {
			p.add(path+".max_calls", "must not be negative (0 means unlimited)")
		}
		if u.Privacy != "" { // "" in a configuration built in code: none
			checkOneOf(p, path+".privacy", u.Privacy, PrivacyNone, PrivacyID)
		}
	}
	validateDialRules(p, "default_dial_rules", &c.DefaultDialRules)
}

// validateDialRules reports patterns that were never set, which only code
// can produce: YAML patterns are checked while decoding.
func validateDialRules(p *problems, path string, r *DialRules) {
	if r == nil {
		return
	}
	for i := range r.Allow {
		if r.Allow[i].IsZero() {
			p.add(path+".allow["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	for i := range r.Deny {
		if r.Deny[i].IsZero() {
			p.add(path+".deny["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
}

func (c *Config) validateRouting(p *problems) {
	for i, r := range c.Outbound {
		path := "outbound[" + strconv.Itoa(i) + "]"
		if r.Pattern.IsZero() {
			p.add(path+".pattern", "required")
		}
		c.validateRule(p, path, &c.Outbound[i])
	}
	dids := map[string]string{}
	for i, r := range c.Routes {
		path := "routes[" + strconv.Itoa(i) + "]"
		switch {
		case r.DID == "":
			p.add(path+".did", "required")
		case !telephony.IsE164(r.DID):
			checkE164(p, path+".did", r.DID)
		case dids[r.DID] != "":
			p.add(path+".did", fmt.Sprintf("%s is already routed by %s", r.DID, dids[r.DID]))
		default:
			dids[r.DID] = path
		}
		if r.User == "" {
			p.add(path+".user", "required")
		} else if _, ok := c.User(r.User); !ok && !c.Auth.JWT.Enabled() {
			p.add(path+".user", fmt.Sprintf("no user has id %q (users authenticated by JWT need auth.jwt.hmac_key)", r.User))
		}
		// A route inheriting calls.ring_timeout is checked there.
		if r.RingTimeout != c.Calls.RingTimeout {
			checkRange(p, path+".ring_timeout", r.RingTimeout, 5*time.Second, 10*time.Minute)
		}
	}
}
