package config

import (
	"net/netip"
	"time"
)

// Transport is a SIP transport protocol (RFC 3261 section 18).
type Transport string

const (
	// TransportUDP is SIP over UDP.
	TransportUDP Transport = "udp"
	// TransportTCP is SIP over TCP.
	TransportTCP Transport = "tcp"
	// TransportTLS is SIP over TLS (RFC 3261 section 26.2), the sips: scheme
	// not implied.
	TransportTLS Transport = "tls"
)

// DefaultPort returns the well-known SIP port of the transport: 5061 for
// TLS, 5060 otherwise (RFC 3261 section 19.1.2).
func (t Transport) DefaultPort() int {
	if t == TransportTLS {
		return 5061
	}
	return 5060
}

// Codec is a trunk-side audio codec, by its RTP encoding name (RFC 3551
// section 6).
type Codec string

const (
	// CodecPCMU is G.711 mu-law, static payload type 0, 8000 Hz.
	CodecPCMU Codec = "PCMU"
	// CodecPCMA is G.711 A-law, static payload type 8, 8000 Hz.
	CodecPCMA Codec = "PCMA"
)

// NumberFormat is how a trunk expects called and calling numbers in the
// user part of its SIP URIs.
type NumberFormat string

const (
	// FormatE164 sends numbers as E.164 with the plus sign: "+442071234567".
	FormatE164 NumberFormat = "e164"
	// FormatE164NoPlus sends E.164 digits without the plus sign:
	// "442071234567".
	FormatE164NoPlus NumberFormat = "e164_no_plus"
	// FormatNational sends numbers of the trunk's country in national form
	// with the national prefix ("02071234567") and others with the
	// international prefix ("0033123456789").
	FormatNational NumberFormat = "national"
)

// Trunk is one SIP trunk: a carrier or PBX that calls are bridged to and
// received from.
type Trunk struct {
	// Name identifies the trunk in outbound rules, logs and metrics:
	// 1 to 63 characters of a-z, 0-9, '_' and '-', unique.
	Name string `yaml:"name"`
	// Host is the trunk's host name or IP address; required.
	Host string `yaml:"host"`
	// Port is the trunk's SIP port, 1 to 65535. Default 5060, or 5061
	// for transport tls.
	Port int `yaml:"port"`
	// Transport is udp, tcp or tls. Default udp. A matching entry in
	// sip.listeners is required.
	Transport Transport `yaml:"transport"`
	// Auth holds the digest credentials for challenges from the trunk.
	Auth DigestAuth `yaml:"auth"`
	// Register configures registration with the trunk.
	Register Registration `yaml:"register"`
	// CallerID is the E.164 number presented on outbound calls of users
	// without their own caller_id. Optional.
	CallerID string `yaml:"caller_id"`
	// Numbering describes the number format the trunk expects.
	Numbering Numbering `yaml:"numbering"`
	// Codecs lists the G.711 codecs offered to the trunk, in order of
	// preference; PCMU and PCMA only, no duplicates.
	// Default [PCMU, PCMA].
	Codecs []Codec `yaml:"codecs"`
	// AllowedSources are the IP addresses and CIDR prefixes ("192.0.2.7",
	// "192.0.2.0/24") from which INVITEs for this trunk are accepted.
	// Default: the trunk's host when it is an IP literal, otherwise empty
	// (no inbound calls from this trunk by address).
	AllowedSources []netip.Prefix `yaml:"allowed_sources"`
	// MaxCalls limits concurrent calls on the trunk; 0 means unlimited.
	// Default 0.
	MaxCalls int `yaml:"max_calls"`
}

// DigestAuth is the credentials used to answer 401/407 challenges with
// HTTP digest authentication (RFC 3261 section 22.4, RFC 8760).
type DigestAuth struct {
	// Username is the digest user name. Optional; when empty the gateway
	// does not answer challenges.
	Username string `yaml:"username"`
	// Password is the digest password; required when Username is set.
	Password Secret `yaml:"password"`
	// Realm restricts the credentials to challenges of this realm (RFC
	// 3261 section 22.1) when set. Default empty (any realm).
	Realm string `yaml:"realm"`
}

// Registration configures REGISTER with the trunk (RFC 3261 section 10).
type Registration struct {
	// Enabled turns registration on. Default false.
	Enabled bool `yaml:"enabled"`
	// Expiry is the requested registration lifetime (Expires header),
	// from 60s to 24h, in whole seconds. Default 300s.
	Expiry time.Duration `yaml:"expiry"`
}

// Numbering describes how the trunk expects numbers, and how numbers typed
// by users are normalised to E.164 before dial rules and outbound rules see
// them.
type Numbering struct {
	// Format is e164, e164_no_plus or national. Default e164.
	Format NumberFormat `yaml:"format"`
	// CountryCode is the ITU-T E.164 country calling code (1 to 3 digits,
	// no leading zero) used for national numbers typed by users and for
	// the national format. Required for format national. Default empty.
	CountryCode string `yaml:"country_code"`
	// NationalPrefix is the trunk prefix of national numbers, digits only.
	// Default "0".
	NationalPrefix string `yaml:"national_prefix"`
	// InternationalPrefix is what users may type instead of "+", digits
	// only. Default "00".
	InternationalPrefix string `yaml:"international_prefix"`
	// StripPrefixes are digit prefixes removed from dialled numbers before
	// normalising, for example "9" for an outside line. The first match is
	// removed. Default empty.
	StripPrefixes []string `yaml:"strip_prefixes"`
	// AddPrefix is prepended to the final number sent to the trunk, for
	// example a technical prefix "1234#"; digits, '*' and '#'.
	// Default empty.
	AddPrefix string `yaml:"add_prefix"`
}

// setDefaults gives a trunk decoded from a list element its static
// defaults.
func (t *Trunk) setDefaults() {
	t.Transport = TransportUDP
	t.Register.Expiry = 300 * time.Second
	t.Numbering = Numbering{
		Format:              FormatE164,
		NationalPrefix:      "0",
		InternationalPrefix: "00",
	}
	t.Codecs = []Codec{CodecPCMU, CodecPCMA}
}

// applyDerivedDefaults fills the defaults that depend on other fields of
// the trunk.
func (t *Trunk) applyDerivedDefaults() {
	if t.Port == 0 {
		t.Port = t.Transport.DefaultPort()
	}
	if len(t.AllowedSources) == 0 {
		if a, err := netip.ParseAddr(t.Host); err == nil && a.Zone() == "" {
			a = a.Unmap()
			t.AllowedSources = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		}
	}
}

// AllowsSource reports whether addr is in the trunk's AllowedSources.
// IPv4-mapped IPv6 addresses match their IPv4 prefixes.
func (t *Trunk) AllowsSource(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t.AllowedSources {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
