package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// validTrunkName reports whether s is 1 to 63 characters of a-z, 0-9, '_'
// and '-'.
func validTrunkName(s string) bool {
	return s != "" && len(s) <= 63 && allBytes(s, func(c byte) bool {
		return (c >= 'a' && c <= 'z') || isDigit(c) || c == '_' || c == '-'
	})
}

func (c *Config) validateTrunks(p *problems) {
	validateTLSCAFile(p, c.SIP.TLSCAFile)
	names := map[string]string{}
	for i := range c.Trunks {
		t := &c.Trunks[i]
		path := "trunks[" + strconv.Itoa(i) + "]"
		checkKey(p, path, "name", t.Name, validTrunkName, "1 to 63 characters of a-z, 0-9, _ and -", names)
		switch {
		case t.Host == "":
			p.add(path+".host", "required")
		case !validHost(t.Host):
			p.add(path+".host", fmt.Sprintf("%q is not a host name or IP address", t.Host))
		}
		checkIntRange(p, path+".port", t.Port, 1, 65535)
		switch {
		case t.Transport.Valid():
			if !c.hasListener(t.Transport) && len(c.SIP.Listeners) > 0 {
				p.add(path+".transport", fmt.Sprintf("no entry of sip.listeners has transport %s", t.Transport))
			}
		default:
			checkOneOf(p, path+".transport", t.Transport, telephony.Transports[:]...)
		}
		if t.Auth.Username != "" && t.Auth.Password.IsZero() {
			p.add(path+".auth.password", "required when username is set")
		}
		if t.Auth.Username == "" && !t.Auth.Password.IsZero() {
			p.add(path+".auth.username", "required when password is set")
		}
		if !printable(t.Auth.Username) {
			p.add(path+".auth.username", "must be printable ASCII")
		}
		if !printable(t.Auth.Realm) {
			p.add(path+".auth.realm", "must be printable ASCII")
		}
		if t.Register.Enabled && t.Auth.Username == "" {
			p.add(path+".auth.username", "required when register.enabled is true (RFC 3261 section 10.2: a registrar authenticates the binding)")
		}
		checkRange(p, path+".register.expiry", t.Register.Expiry, time.Minute, 24*time.Hour)
		if t.Register.Expiry%time.Second != 0 {
			p.add(path+".register.expiry", "must be whole seconds")
		}
		checkE164(p, path+".caller_id", t.CallerID)
		validateNumbering(p, path+".numbering", &t.Numbering)
		if len(t.Codecs) == 0 {
			p.add(path+".codecs", "at least one codec is required")
		}
		seen := map[Codec]bool{}
		for j, cd := range t.Codecs {
			cpath := path + ".codecs[" + strconv.Itoa(j) + "]"
			checkOneOf(p, cpath, cd, CodecPCMU, CodecPCMA)
			if seen[cd] {
				p.add(cpath, fmt.Sprintf("%s is listed twice", cd))
			}
			seen[cd] = true
		}
		for j, src := range t.AllowedSources {
			if !src.IsValid() {
				p.add(path+".allowed_sources["+strconv.Itoa(j)+"]", "must be an IP address or CIDR prefix")
			}
		}
		if t.MaxCalls < 0 {
			p.add(path+".max_calls", "must not be negative (0 means unlimited)")
		}
		validateCarrier(p, path, t)
		validateModes(p, path, t)
		validateMediaEncryption(p, path, t)
		validateTransfer(p, path, t)
	}
}

// hasListener reports whether a SIP listener uses transport t.
func (c *Config) hasListener(t telephony.Transport) bool {
	for _, l := range c.SIP.Listeners {
		if l.Transport == t {
			return true
		}
	}
	return false
}

// validateNumbering reports the numbering plan's problems under path.
func validateNumbering(p *problems, path string, n *telephony.NumberPlan) {
	for _, pr := range n.Problems() {
		p.add(path+"."+pr.Field, pr.Message)
	}
}
