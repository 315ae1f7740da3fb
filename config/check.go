package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Field checks shared by the validation of several sections. Each records
// its problems in p under the given path.

// Problems of bind addresses, as reported by parseListen.
var (
	errListenForm = errors.New(`must be host:port such as "127.0.0.1:5060", "[::1]:5060" or ":5060"`)
	errListenPort = errors.New("port must be a number from 0 to 65535")
	errListenHost = errors.New("host must be an IP address, or empty for all interfaces")
)

// parseListen parses a bind address "host:port". The returned address is
// the zero Addr when host is empty (all interfaces); port 0 means any free
// port.
func parseListen(s string) (netip.Addr, int, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, errListenForm
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return netip.Addr{}, 0, errListenPort
	}
	if host == "" {
		return netip.Addr{}, port, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, errListenHost
	}
	return a, port, nil
}

// checkListen checks a bind address; empty is allowed when optional.
func checkListen(p *problems, path, s string, optional bool) {
	if s == "" {
		if !optional {
			p.add(path, "required")
		}
		return
	}
	if _, _, err := parseListen(s); err != nil {
		p.add(path, err.Error())
	}
}

// validHostname reports whether s is a DNS host name (RFC 1123 section
// 2.1): dot-separated labels of letters, digits and hyphens, 1 to 63
// characters each, 253 in all, with a last label that is not all digits
// (RFC 3696 section 2). One trailing dot is allowed.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c != '-' && !isDigit(c) && !isLetter(c) {
				return false
			}
		}
	}
	return !allDigits(labels[len(labels)-1])
}

// validHost reports whether s is an IP literal (without brackets or zone)
// or a host name.
func validHost(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	return validHostname(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isLetter reports whether c is an ASCII letter.
func isLetter(c byte) bool {
	c |= 0x20 // lower case
	return c >= 'a' && c <= 'z'
}

// allDigits reports whether s is non-empty and only decimal digits.
func allDigits(s string) bool {
	return s != "" && allBytes(s, isDigit)
}

// printable reports whether s has only printable ASCII, which keeps SIP
// header values free of CR, LF and other control characters.
func printable(s string) bool {
	return allBytes(s, func(c byte) bool { return c >= 0x20 && c <= 0x7e })
}

// checkKey checks field, the key of the list entry at path: set, of the
// form valid accepts (form describes it), and not the key of an earlier
// entry. seen maps each key to the path of its entry; checkKey adds key.
func checkKey(p *problems, path, field, key string, valid func(string) bool, form string, seen map[string]string) {
	switch {
	case key == "":
		p.add(path+"."+field, "required")
	case !valid(key):
		p.add(path+"."+field, fmt.Sprintf("%q must be %s", key, form))
	case seen[key] != "":
		p.add(path+"."+field, fmt.Sprintf("%q is already the %s of %s", key, field, seen[key]))
	default:
		seen[key] = path
	}
}

// allBytes reports whether ok accepts every byte of s (true for "").
func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// checkTLS checks a certificate/key pair: both or neither, and both files
// readable regular files. When required, neither is an error.
func checkTLS(p *problems, path string, t TLSFiles, required bool) {
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		if required {
			p.add(path+".cert_file", "required")
			p.add(path+".key_file", "required")
		}
		return
	case t.CertFile == "":
		p.add(path+".cert_file", "required when key_file is set")
	case t.KeyFile == "":
		p.add(path+".key_file", "required when cert_file is set")
	}
	checkFile(p, path+".cert_file", t.CertFile)
	checkFile(p, path+".key_file", t.KeyFile)
}

// checkFile checks that a non-empty name is an existing regular file.
func checkFile(p *problems, path, name string) {
	if name == "" {
		return
	}
	st, err := os.Stat(name)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		p.add(path, fmt.Sprintf("cannot use %q: %v", name, pe.Err))
	case err != nil:
		p.add(path, fmt.Sprintf("cannot use %q: %v", name, err))
	case !st.Mode().IsRegular():
		p.add(path, fmt.Sprintf("%q is not a regular file", name))
	}
}

// checkIntRange checks that a count lies in [lo, hi].
func checkIntRange(p *problems, path string, n, lo, hi int) {
	if n < lo || n > hi {
		p.add(path, fmt.Sprintf("must be from %d to %d", lo, hi))
	}
}

// checkRange checks that a duration lies in [lo, hi].
func checkRange(p *problems, path string, d, lo, hi time.Duration) {
	switch {
	case d < lo:
		p.add(path, "must be at least "+fmtDuration(lo))
	case d > hi:
		p.add(path, "must be at most "+fmtDuration(hi))
	}
}

// fmtDuration prints a duration without zero trailing units: "1m", "24h",
// "1h30m", "500ms", "0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkE164 checks an optional E.164 number.
func checkE164(p *problems, path, s string) {
	if s != "" && !telephony.IsE164(s) {
		p.add(path, fmt.Sprintf("%q is not an E.164 number: write + and 2 to 15 digits, such as +442071234567", s))
	}
}

// checkOneOf checks an enumerated value.
func checkOneOf[T ~string](p *problems, path string, v T, allowed ...T) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	if v == "" {
		p.add(path, "required: one of "+strings.Join(names, ", "))
		return
	}
	p.add(path, fmt.Sprintf("must be one of %s, not %q", strings.Join(names, ", "), string(v)))
}

// checkOrigin checks a WebSocket Origin allow-list entry: a serialised
// origin (RFC 6454 section 6.1) with scheme http or https.
func checkOrigin(p *problems, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" ||
		u.Scheme+"://"+u.Host != s {
		p.add(path, fmt.Sprintf(`%q is not an origin: write scheme://host[:port] such as "https://app.example.com"`, s))
	}
}

// checkICEURL checks a STUN or TURN URI (RFC 7064 section 3.1, RFC 7065
// section 3.1) and reports whether it is a TURN URI.
func checkICEURL(p *problems, path, s string) (turn bool) {
	scheme, rest, ok := strings.Cut(s, ":")
	bad := func(why string) bool {
		p.add(path, fmt.Sprintf("%q %s", s, why))
		return turn
	}
	switch strings.ToLower(scheme) {
	case "stun", "stuns":
	case "turn", "turns":
		turn = true
	default:
		return bad("must start with stun:, stuns:, turn: or turns:")
	}
	if !ok {
		return bad("has no host")
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery && (!turn || (query != "transport=udp" && query != "transport=tcp")) {
		return bad("may only have ?transport=udp or ?transport=tcp, and only for TURN")
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("has an invalid port")
		}
		host = h
	} else if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if !validHost(host) {
		return bad("has an invalid host")
	}
	return turn
}
