package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// minHMACKeyLen is the shortest accepted HS256 key in bytes: a key of at
// least the hash output size (RFC 7518 section 3.2).
const minHMACKeyLen = 32

// Validate checks every field and cross-reference of the configuration and
// returns nil or a [*ValidationError] listing every problem, each with its
// field path and, for a configuration from [Load] or [Parse], its line. It
// does not modify c. Besides reading c it only looks at the file system, to
// check that TLS certificate and key files exist.
//
// Validate expects defaults to be applied (as Load and Parse do); on a
// configuration built in code, start from [Default].
func (c *Config) Validate() error {
	p := &problems{lines: c.lines}
	c.validate(p)
	return p.result("")
}

func (c *Config) validate(p *problems) {
	c.validateHTTP(p)
	c.validateSIP(p)
	c.validateWebRTC(p)
	c.validateTrunks(p)
	c.validateAuth(p)
	c.validateRouting(p)
	c.validateAdmin(p)
	c.validateNetwork(p)
	c.validateCDR(p)
	c.validateLimits(p)
	c.validateWebhooks(p)
	c.validateCluster(p)
	c.validateSIPWebSocket(p)
	c.validateQuality(p)

	checkRange(p, "calls.ring_timeout", c.Calls.RingTimeout, 5*time.Second, 10*time.Minute)
	checkRange(p, "calls.media_timeout", c.Calls.MediaTimeout, 5*time.Second, 10*time.Minute)
	checkRange(p, "calls.max_duration", c.Calls.MaxDuration, time.Minute, 48*time.Hour)
	if c.Calls.MaxConcurrent < 0 {
		p.add("calls.max_concurrent", "must not be negative (0 means unlimited)")
	}
	checkIntRange(p, "calls.opus_complexity", c.Calls.OpusComplexity, 0, 10)
	checkOneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	checkOneOf(p, "log.format", c.Log.Format, "text", "json")
	switch path := c.Metrics.Path; {
	case path == "" || path[0] != '/':
		p.add("metrics.path", "must start with /")
	case path == "/" || path == "/ws" || path == "/healthz" || path == "/readyz":
		p.add("metrics.path", fmt.Sprintf("%q is used by the gateway itself", path))
	case !printable(path):
		p.add("metrics.path", "must be printable ASCII")
	}
	checkRange(p, "shutdown.grace_period", c.Shutdown.GracePeriod, 0, 10*time.Minute)
}

func (c *Config) validateHTTP(p *problems) {
	checkListen(p, "http.listen", c.HTTP.Listen, false)
	checkTLS(p, "http.tls", c.HTTP.TLS, false)
	checkIntRange(p, "http.max_connections", c.HTTP.MaxConnections, 1, 1000000)
	if c.HTTP.PublicURL != "" {
		checkOrigin(p, "http.public_url", c.HTTP.PublicURL)
	}
	for i, o := range c.HTTP.AllowedOrigins {
		checkOrigin(p, "http.allowed_origins["+strconv.Itoa(i)+"]", o)
	}
}

func (c *Config) validateSIP(p *problems) {
	s := &c.SIP
	if len(s.Listeners) == 0 {
		p.add("sip.listeners", "at least one listener is required")
	}
	first := map[string]string{} // transport+listen -> path of first use
	for i, l := range s.Listeners {
		path := "sip.listeners[" + strconv.Itoa(i) + "]"
		checkOneOf(p, path+".transport", l.Transport, telephony.Transports[:]...)
		checkListen(p, path+".listen", l.Listen, false)
		if l.Transport == telephony.TransportTLS {
			checkTLS(p, path+".tls", l.TLS, true)
		} else if l.TLS != (TLSFiles{}) {
			p.add(path+".tls", "only allowed for transport tls")
		}
		key := string(l.Transport) + " " + l.Listen
		if prev, dup := first[key]; dup && l.Listen != "" {
			p.add(path, "same transport and listen address as "+prev)
		} else {
			first[key] = path
		}
	}
	switch {
	case s.PublicHost == "":
		if len(s.Listeners) > 0 {
			if _, _, err := parseListen(s.Listeners[0].Listen); err == nil {
				p.add("sip.public_host", "required when sip.listeners[0] does not bind a specific IP address")
			}
		}
	case !validHost(s.PublicHost):
		p.add("sip.public_host", fmt.Sprintf("%q is not a host name or IP address", s.PublicHost))
	default:
		if a, err := netip.ParseAddr(s.PublicHost); err == nil && a.IsUnspecified() {
			p.add("sip.public_host", "must be an address peers can reach, not "+s.PublicHost)
		}
	}
	if !printable(s.UserAgent) {
		p.add("sip.user_agent", "must be printable ASCII")
	}
	checkOneOf(p, "sip.unknown_sources", s.UnknownSources, UnknownSourcesReject, UnknownSourcesIgnore)
	switch ir := s.InviteRate; {
	case ir.PerSecond < 0:
		p.add("sip.invite_rate.per_second", "must be 0 (no limit) or a positive number")
	case ir.PerSecond > 0 && ir.Burst < 1:
		p.add("sip.invite_rate.burst", "must be at least 1")
	}
	r := s.RTP
	switch {
	case r.PortMin < 1024:
		p.add("sip.rtp.port_min", "must be at least 1024")
	case r.PortMin%2 != 0:
		p.add("sip.rtp.port_min", "must be even: RTP uses even ports and RTCP the next odd one (RFC 3550 section 11)")
	}
	switch {
	case r.PortMax > 65535:
		p.add("sip.rtp.port_max", "must be at most 65535")
	case r.PortMax < r.PortMin+1:
		p.add("sip.rtp.port_max", "must be at least port_min+1, for one RTP/RTCP pair")
	}
}

func (c *Config) validateWebRTC(p *problems) {
	w := &c.WebRTC
	checkListen(p, "webrtc.udp_listen", w.UDPListen, false)
	checkListen(p, "webrtc.tcp_listen", w.TCPListen, true)
	if len(w.PublicIPs) == 0 {
		p.add("webrtc.public_ips", "at least one IP address is required")
	}
	// One address per family: the WebRTC listener is one socket per family,
	// announced under one public address (1:1 NAT); a second address of the
	// same family could never be reached on it.
	var seen4, seen6 bool
	for i, a := range w.PublicIPs {
		path := "webrtc.public_ips[" + strconv.Itoa(i) + "]"
		switch {
		case !a.IsValid():
			p.add(path, "must be an IP address")
		case a.IsUnspecified() || a.IsMulticast():
			p.add(path, "must be an address browsers can reach, not "+a.String())
		case a.Unmap().Is4() && seen4, !a.Unmap().Is4() && seen6:
			p.add(path, "only one IPv4 and one IPv6 address may be given")
		}
		if a.IsValid() {
			seen4 = seen4 || a.Unmap().Is4()
			seen6 = seen6 || !a.Unmap().Is4()
		}
	}
	for i, s := range w.ICEServers {
		path := "webrtc.ice_servers[" + strconv.Itoa(i) + "]"
		if len(s.URLs) == 0 {
			p.add(path+".urls", "at least one URL is required")
		}
		turn := false
		for j, u := range s.URLs {
			if checkICEURL(p, path+".urls["+strconv.Itoa(j)+"]", u) {
				turn = true
			}
		}
		if turn && s.Username == "" {
			p.add(path+".username", "required for TURN URLs")
		}
		if turn && s.Credential.IsZero() {
			p.add(path+".credential", "required for TURN URLs")
		}
	}
}
