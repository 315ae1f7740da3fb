package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TURNConfig is TURN for browsers whose network blocks UDP or direct
// paths: an embedded TURN server (RFC 8656) relaying only to the gateway's
// own WebRTC media address, and/or external TURN servers (such as coturn
// with use-auth-secret) sharing its secret. Either way each browser gets
// short-lived credentials of the TURN REST scheme in its ICE servers:
// username "expiry:user" (expiry in Unix seconds), password
// base64(HMAC-SHA1(secret, username)).
type TURNConfig struct {
	// Secret is the shared secret the credentials are minted with (at
	// least 16 bytes). Required when Listen, TLSListen or URLs is set.
	Secret Secret `yaml:"secret"`
	// CredentialLifetime is how long minted credentials may open new
	// allocations, from 1m to 48h. Default 1h. Browsers get fresh ones
	// while connected (docs/protocol.md, "ice_servers").
	CredentialLifetime time.Duration `yaml:"credential_lifetime"`
	// URLs are turn: or turns: URLs of external servers handed to browsers
	// with the minted credentials. Default empty: only the embedded
	// server's.
	URLs []string `yaml:"urls"`
	// Listen is the embedded server's UDP and TCP address, as host:port
	// (3478 is the standard port). Empty: no embedded server.
	Listen string `yaml:"listen"`
	// TLSListen adds turns: (TURN over TLS) on this address, such as
	// ":5349" or ":443" for networks that let only HTTPS out; needs TLS.
	TLSListen string `yaml:"tls_listen"`
	// TLS holds the certificate and key of TLSListen.
	TLS TLSFiles `yaml:"tls"`
	// Host is the host name or address in the embedded server's URLs.
	// Default: the first of webrtc.public_ips.
	Host string `yaml:"host"`
	// RelayIP is the address relayed allocations are bound to and
	// announced with. Default: the first IPv4 address of
	// webrtc.public_ips.
	RelayIP netip.Addr `yaml:"relay_ip"`
	// Realm is the TURN realm (RFC 8489 section 14.9). Default "webtrunk".
	Realm string `yaml:"realm"`
	// MaxAllocationsPerUser bounds the allocations one user holds at once
	// (1 to 1000). Default 8.
	MaxAllocationsPerUser int `yaml:"max_allocations_per_user"`
	// MaxAllocationsPerSource bounds the allocations of one client IP
	// address (1 to 10000). Default 32.
	MaxAllocationsPerSource int `yaml:"max_allocations_per_source"`
	// MaxBandwidth bounds what one allocation relays, in bytes per second
	// each way (1000 to 10000000); datagrams beyond it are dropped. An
	// Opus call needs about 10000. Default 64000.
	MaxBandwidth int `yaml:"max_bandwidth"`
}

// Embedded reports whether the gateway runs its own TURN server.
func (t TURNConfig) Embedded() bool { return t.Listen != "" }

// Enabled reports whether browsers get TURN credentials.
func (t TURNConfig) Enabled() bool { return t.Embedded() || len(t.URLs) > 0 }

// minTURNSecret is the shortest accepted TURN secret, in bytes.
const minTURNSecret = 16

// setTURNDefaults fills the defaults of the turn block.
func (c *Config) setTURNDefaults() {
	t := &c.TURN
	if t.CredentialLifetime == 0 {
		t.CredentialLifetime = time.Hour
	}
	if t.Realm == "" {
		t.Realm = "webtrunk"
	}
	if t.MaxAllocationsPerUser == 0 {
		t.MaxAllocationsPerUser = 8
	}
	if t.MaxAllocationsPerSource == 0 {
		t.MaxAllocationsPerSource = 32
	}
	if t.MaxBandwidth == 0 {
		t.MaxBandwidth = 64000
	}
	if t.Host == "" && len(c.WebRTC.PublicIPs) > 0 {
		t.Host = c.WebRTC.PublicIPs[0].String()
	}
	if !t.RelayIP.IsValid() {
		for _, a := range c.WebRTC.PublicIPs {
			if a.Unmap().Is4() {
				t.RelayIP = a.Unmap()

				break
			}
		}
	}
}

// validateTURN checks the turn block.
func (c *Config) validateTURN(p *problems) {
	t := &c.TURN
	if !t.Enabled() && t.TLSListen == "" {
		return
	}
	if t.Secret.Len() < minTURNSecret {
		p.add("turn.secret", "at least "+strconv.Itoa(minTURNSecret)+" bytes are required with a TURN server")
	}
	checkRange(p, "turn.credential_lifetime", t.CredentialLifetime, time.Minute, 48*time.Hour)
	for i, u := range t.URLs {
		path := "turn.urls[" + strconv.Itoa(i) + "]"
		if turn := checkICEURL(p, path, u); !turn && strings.Contains(u, ":") {
			p.add(path, "must be a turn: or turns: URL")
		}
	}
	checkListen(p, "turn.listen", t.Listen, true)
	checkListen(p, "turn.tls_listen", t.TLSListen, true)
	if t.TLSListen != "" && !t.Embedded() {
		p.add("turn.tls_listen", "needs turn.listen")
	}
	checkTLS(p, "turn.tls", t.TLS, t.TLSListen != "")
	if t.Embedded() {
		if !validHost(t.Host) {
			p.add("turn.host", "must be a host name or IP address")
		}
		if !t.RelayIP.IsValid() || t.RelayIP.IsUnspecified() {
			p.add("turn.relay_ip", "an IPv4 address is required (none in webrtc.public_ips)")
		}
	}
	checkIntRange(p, "turn.max_allocations_per_user", t.MaxAllocationsPerUser, 1, 1000)
	checkIntRange(p, "turn.max_allocations_per_source", t.MaxAllocationsPerSource, 1, 10000)
	checkIntRange(p, "turn.max_bandwidth", t.MaxBandwidth, 1000, 10000000)
}
