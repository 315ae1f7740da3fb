package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// SIPAccount is a user's extension on a SIP registrar or PBX (RFC 3261
// section 10): while at least one of the user's browsers is connected,
// the gateway registers a contact for the user pointing at itself, so
// that calls the registrar sends to the extension ring the user's
// browsers here. The registrar's INVITEs are let in like a trunk's: one
// of the trunks must allow the registrar's address (trunks[].allowed_sources).
type SIPAccount struct {
	// Registrar is the registrar's host or host:port (an IP address or a
	// host name); the port defaults to the transport's (5060, 5061 for
	// tls). Required.
	Registrar string `yaml:"registrar"`
	// Username is the extension: the user part of the address of record
	// and of the contact, and the digest user name. Required.
	Username string `yaml:"username"`
	// Password answers the registrar's digest challenges (401/407);
	// typically "${ALICE_SIP_PASSWORD}". Optional.
	Password Secret `yaml:"password"`
	// Expiry is the registration lifetime asked for, from 60s to 24h;
	// the gateway refreshes at half what the registrar grants. Default 5m.
	Expiry time.Duration `yaml:"expiry"`
	// Transport is udp, tcp or tls; a SIP listener of that transport is
	// required. Default udp.
	Transport telephony.Transport `yaml:"transport"`
}

// RegistrarHostPort returns the registrar's host and port, the port
// defaulted from the transport.
func (a *SIPAccount) RegistrarHostPort() (string, int) {
	host, port, err := net.SplitHostPort(a.Registrar)
	if err != nil {
		return a.Registrar, a.Transport.DefaultPort()
	}
	n, _ := strconv.Atoi(port)

	return host, n
}

// setAccountDefaults fills the defaults of the users' sip_account blocks.
func (c *Config) setAccountDefaults() {
	for i := range c.Auth.Users {
		if a := c.Auth.Users[i].SIPAccount; a != nil {
			if a.Expiry == 0 {
				a.Expiry = 5 * time.Minute
			}
			if a.Transport == "" {
				a.Transport = telephony.TransportUDP
			}
		}
	}
}

// validateAccounts checks the users' sip_account blocks.
func (c *Config) validateAccounts(p *problems) {
	usernames := map[string]string{}
	for i := range c.Auth.Users {
		a := c.Auth.Users[i].SIPAccount
		if a == nil {
			continue
		}
		path := "auth.users[" + strconv.Itoa(i) + "].sip_account"
		checkRange(p, path+".expiry", a.Expiry, time.Minute, 24*time.Hour)
		if !a.Transport.Valid() {
			p.add(path+".transport", "must be udp, tcp or tls")
		} else if !c.hasSIPListener(a.Transport) {
			p.add(path+".transport", "no sip.listeners entry of transport "+string(a.Transport))
		}
		switch {
		case a.Username == "":
			p.add(path+".username", "required")
		case !ValidUserID(a.Username):
			p.add(path+".username", "1 to 128 characters of A-Z, a-z, 0-9, ., _, @ and -")
		case usernames[a.Username] != "":
			p.add(path+".username", "also the extension of "+usernames[a.Username])
		default:
			usernames[a.Username] = c.Auth.Users[i].ID
		}
		host, port := a.RegistrarHostPort()
		if !validHost(host) || port < 1 || port > 65535 || strings.Contains(a.Registrar, "[") {
			p.add(path+".registrar", "must be host or host:port, as pbx.example.com or 192.0.2.10:5060")

			continue
		}
		if addr, err := netip.ParseAddr(host); err == nil && !c.trunkAllows(addr) {
			p.add(path+".registrar", "no trunk allows INVITEs from "+host+": add it to a trunk's allowed_sources")
		}
	}
}

// hasSIPListener reports whether a SIP listener of transport t is configured.
func (c *Config) hasSIPListener(t telephony.Transport) bool {
	for _, l := range c.SIP.Listeners {
		if l.Transport == t {
			return true
		}
	}

	return false
}

// trunkAllows reports whether some trunk accepts requests from addr.
func (c *Config) trunkAllows(addr netip.Addr) bool {
	for _, t := range c.Trunks {
		for _, pfx := range t.AllowedSources {
			if pfx.Contains(addr.Unmap()) {
				return true
			}
		}
	}

	return false
}
