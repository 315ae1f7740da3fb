package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TrunkRef is one trunk of an outbound rule's list (OutboundRule.Trunks).
type TrunkRef struct {
	// Name is the name of a configured trunk; required, once per rule.
	Name string `yaml:"name"`
	// Weight shares calls between neighbouring entries of the list: a run
	// of consecutive entries with a weight above 0 is put in a random
	// order for each call, each entry coming first in proportion to its
	// weight (the selection of RFC 2782), the others following it as
	// fallbacks. 0 to 1000; default 0 (the entry keeps its place).
	Weight int `yaml:"weight"`
}

// DefaultAttemptTimeout is OutboundRule.AttemptTimeout when not set.
const DefaultAttemptTimeout = 8 * time.Second

// Bounds of OutboundRule.AttemptTimeout.
const (
	minAttemptTimeout = time.Second
	maxAttemptTimeout = 2 * time.Minute
)

// TrunkList returns the rule's trunks in configured order: Trunks, or the
// one Trunk of a single-trunk rule.
func (r *OutboundRule) TrunkList() []TrunkRef {
	if len(r.Trunks) > 0 {
		return r.Trunks
	}
	if r.Trunk == "" {
		return nil
	}

	return []TrunkRef{{Name: r.Trunk}}
}

// IdentityHeader is how a trunk is told the caller's identity on outbound
// calls (Trunk.Identity).
type IdentityHeader string

const (
	// IdentityFrom presents the caller in From only, with anonymous From
	// (RFC 3323 section 4.1.1.3) and Privacy: id when the number is
	// withheld.
	IdentityFrom IdentityHeader = "from"
	// IdentityPAI adds P-Asserted-Identity (RFC 3325 section 9.1) with the
	// caller's number, and Privacy: id (RFC 3325 section 9.3, RFC 3323
	// section 4.2) when the number is withheld, in which case From is
	// anonymous.
	IdentityPAI IdentityHeader = "pai"
	// IdentityRPID adds Remote-Party-ID (draft-ietf-sip-privacy-04, still
	// common with carriers) with party=calling, screen=yes and privacy=off
	// or privacy=full.
	IdentityRPID IdentityHeader = "rpid"
)

// Privacy is a withheld-identity setting of a user (User.Privacy).
type Privacy string

const (
	// PrivacyNone presents the caller's number. It is the default.
	PrivacyNone Privacy = "none"
	// PrivacyID withholds the caller's number (RFC 3323 section 4.2 "id").
	PrivacyID Privacy = "id"
)

// TrunkHealth configures OPTIONS probing of a trunk (RFC 3261 section
// 11): a trunk that fails DownAfter probes in a row is marked down and
// skipped by outbound rules until UpAfter probes in a row succeed.
type TrunkHealth struct {
	// Interval is the time between probes, from 1s to 1h; 0 (default)
	// sends no probes and the trunk is always up.
	Interval time.Duration `yaml:"interval"`
	// Timeout is how long a probe waits for any response, from 100ms to
	// interval. Default 5s, or interval when shorter.
	Timeout time.Duration `yaml:"timeout"`
	// DownAfter is how many failed probes in a row mark the trunk down,
	// 1 to 100. Default 3 (also when 0).
	DownAfter int `yaml:"down_after"`
	// UpAfter is how many answered probes in a row mark a down trunk up,
	// 1 to 100. Default 2 (also when 0).
	UpAfter int `yaml:"up_after"`
}

// Enabled reports whether OPTIONS probes are sent.
func (h TrunkHealth) Enabled() bool { return h.Interval > 0 }

// setCarrierDefaults gives a trunk's carrier settings their static
// defaults.
func (t *Trunk) setCarrierDefaults() {
	t.Identity = IdentityFrom
	t.Health.DownAfter = 3
	t.Health.UpAfter = 2
}

// applyCarrierDefaults fills the carrier defaults that depend on other
// fields of the trunk.
func (t *Trunk) applyCarrierDefaults() {
	if t.Health.Timeout == 0 && t.Health.Interval > 0 {
		t.Health.Timeout = min(5*time.Second, t.Health.Interval)
	}
}

// applyRuleDefaults fills an outbound rule's defaults.
func (r *OutboundRule) applyRuleDefaults() {
	if r.AttemptTimeout == 0 {
		r.AttemptTimeout = DefaultAttemptTimeout
	}
}

// validateCarrier reports the problems of a trunk's carrier settings
// under path.
func validateCarrier(p *problems, path string, t *Trunk) {
	if t.Identity != "" { // "" in a configuration built in code: from
		checkOneOf(p, path+".identity", t.Identity, IdentityFrom, IdentityPAI, IdentityRPID)
	}
	seen := map[int]bool{}
	for j, code := range t.FinalCodes {
		cpath := path + ".final_codes[" + strconv.Itoa(j) + "]"
		switch {
		case code < 500 || code > 599:
			p.add(cpath, fmt.Sprintf("%d is not a 5xx status (RFC 3261 section 21.5); 4xx and 6xx end a call anyway", code))
		case seen[code]:
			p.add(cpath, fmt.Sprintf("%d is listed twice", code))
		}
		seen[code] = true
	}
	h := t.Health
	if h.Interval != 0 {
		checkRange(p, path+".health.interval", h.Interval, time.Second, time.Hour)
		checkRange(p, path+".health.timeout", h.Timeout, 100*time.Millisecond, max(h.Interval, 100*time.Millisecond))
	}
	validateInbound(p, path, &t.Inbound)
	if _, err := netip.ParseAddr(t.Host); err == nil && t.DNSSRV {
		p.add(path+".dns_srv", "host is an IP address: there are no SRV records to look up")
	}
	// 0 is left by a configuration built in code: the default.
	if h.DownAfter < 0 || h.DownAfter > 100 {
		p.add(path+".health.down_after", "must be from 1 to 100")
	}
	if h.UpAfter < 0 || h.UpAfter > 100 {
		p.add(path+".health.up_after", "must be from 1 to 100")
	}
}

// validateRule reports the problems of an outbound rule's trunk list
// under path.
func (c *Config) validateRule(p *problems, path string, r *OutboundRule) {
	switch {
	case r.Trunk != "" && len(r.Trunks) > 0:
		p.add(path+".trunks", "set either trunk or trunks, not both")
	case r.Trunk == "" && len(r.Trunks) == 0:
		p.add(path+".trunk", "required (or trunks, a list)")
	case r.Trunk != "":
		if _, ok := c.Trunk(r.Trunk); !ok {
			p.add(path+".trunk", fmt.Sprintf("no trunk is named %q", r.Trunk))
		}
	}
	names := map[string]bool{}
	for j, ref := range r.Trunks {
		tpath := path + ".trunks[" + strconv.Itoa(j) + "]"
		switch _, ok := c.Trunk(ref.Name); {
		case ref.Name == "":
			p.add(tpath+".name", "required")
		case !ok:
			p.add(tpath+".name", fmt.Sprintf("no trunk is named %q", ref.Name))
		case names[ref.Name]:
			p.add(tpath+".name", fmt.Sprintf("%q is listed twice", ref.Name))
		}
		names[ref.Name] = true
		checkIntRange(p, tpath+".weight", ref.Weight, 0, 1000)
	}
	if r.AttemptTimeout != 0 { // 0 in a configuration built in code: the default
		checkRange(p, path+".attempt_timeout", r.AttemptTimeout, minAttemptTimeout, maxAttemptTimeout)
	}
}

// TrunkInbound says which inbound INVITEs belong to a trunk beyond its
// allowed_sources: selectors that tell apart trunks sharing a source
// address, and digest authentication for a PBX that sends from changing
// addresses.
type TrunkInbound struct {
	// RequestHost, when set, selects INVITEs whose Request-URI host is
	// this name or address (case-insensitive).
	RequestHost string `yaml:"request_host"`
	// RequestUser, when set, selects INVITEs whose Request-URI user part
	// starts with these characters (for example a DID prefix "+4420" or
	// a PBX's "pbx-a-").
	RequestUser string `yaml:"request_user"`
	// Header, when set, selects INVITEs carrying this header (a SIP token
	// such as "X-Trunk-Id") with the value HeaderValue (compared exactly,
	// spaces trimmed).
	Header      string `yaml:"header"`
	HeaderValue string `yaml:"header_value"`
	// Digest, when its username is set, accepts INVITEs from any address
	// that answer a digest challenge (RFC 3261 section 22.2) with these
	// credentials; allowed_sources still admit without one.
	Digest DigestAuth `yaml:"digest"`
}

// HasSelector reports whether any of RequestHost, RequestUser and Header
// is set.
func (in TrunkInbound) HasSelector() bool {
	return in.RequestHost != "" || in.RequestUser != "" || in.Header != ""
}

// validateInbound reports the problems of a trunk's inbound selection.
func validateInbound(p *problems, path string, in *TrunkInbound) {
	path += ".inbound"
	if in.RequestHost != "" && !validHost(in.RequestHost) {
		p.add(path+".request_host", fmt.Sprintf("%q is not a host name or IP address", in.RequestHost))
	}
	if !printable(in.RequestUser) || strings.ContainsAny(in.RequestUser, " <>@;\"") {
		p.add(path+".request_user", "must be printable ASCII without spaces, <, >, @, ; or quotes")
	}
	switch {
	case in.Header != "" && !sipToken(in.Header):
		p.add(path+".header", fmt.Sprintf("%q is not a SIP header name (RFC 3261 section 25.1 token)", in.Header))
	case in.Header != "" && in.HeaderValue == "":
		p.add(path+".header_value", "required when header is set")
	case in.Header == "" && in.HeaderValue != "":
		p.add(path+".header", "required when header_value is set")
	}
	if !printable(in.HeaderValue) {
		p.add(path+".header_value", "must be printable ASCII")
	}
	d := in.Digest
	switch {
	case d.Username != "" && d.Password.IsZero():
		p.add(path+".digest.password", "required when username is set")
	case d.Username == "" && !d.Password.IsZero():
		p.add(path+".digest.username", "required when password is set")
	}
	if !printable(d.Username) || strings.ContainsAny(d.Username, `"\`) {
		p.add(path+".digest.username", "must be printable ASCII without quotes or backslashes")
	}
	if !printable(d.Realm) || strings.ContainsAny(d.Realm, `"\`) {
		p.add(path+".digest.realm", "must be printable ASCII without quotes or backslashes")
	}
}

// sipToken reports whether s is a non-empty RFC 3261 token (section 25.1).
func sipToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && strings.IndexByte("-.!%*_+`'~", c) < 0 {
			return false
		}
	}
	return true
}

// inboundWarnings returns advice about trunks that share a source address
// without selectors that tell them apart: INVITEs from there go to the
// first of them.
func (c *Config) inboundWarnings() []string {
	var w []string
	for i := range c.Trunks {
		for j := i + 1; j < len(c.Trunks); j++ {
			a, b := &c.Trunks[i], &c.Trunks[j]
			// One trunk without selectors beside one with them is the
			// fallback: only equal selectors (or none on both) are ambiguous.
			if selectorKey(a.Inbound) != selectorKey(b.Inbound) {
				continue
			}
			if overlap(a.AllowedSources, b.AllowedSources) {
				w = append(w, "trunks["+strconv.Itoa(j)+"].inbound: shares allowed_sources with trunks["+strconv.Itoa(i)+
					"] and inbound selectors do not tell them apart: INVITEs go to "+a.Name)
			}
		}
	}
	return w
}

// selectorKey identifies the selectors of in, "" when it has none.
func selectorKey(in TrunkInbound) string {
	if !in.HasSelector() {
		return ""
	}
	return strings.ToLower(in.RequestHost) + "\x00" + in.RequestUser + "\x00" + strings.ToLower(in.Header) + "\x00" + in.HeaderValue
}

// overlap reports whether any prefix of a overlaps any prefix of b.
func overlap(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return true
			}
		}
	}
	return false
}
