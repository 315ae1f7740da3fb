package config

import (
	"net/netip"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Codec is a trunk-side audio codec, by its RTP encoding name (RFC 3551
// section 6).
type Codec string

const (
	// CodecPCMU is G.711 mu-law, static payload type 0, 8000 Hz.
	CodecPCMU Codec = "PCMU"
	// CodecPCMA is G.711 A-law, static payload type 8, 8000 Hz.
	CodecPCMA Codec = "PCMA"
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
	Transport telephony.Transport `yaml:"transport"`
	// Auth holds the digest credentials for challenges from the trunk.
	Auth DigestAuth `yaml:"auth"`
	// Register configures registration with the trunk.
	Register Registration `yaml:"register"`
	// CallerID is the E.164 number presented on outbound calls of users
	// without their own caller_id. Optional.
	CallerID string `yaml:"caller_id"`
	// Numbering describes how the trunk expects numbers, and how numbers
	// typed by users are normalised to E.164 before dial rules and
	// outbound rules see them. Defaults: format e164, national_prefix "0",
	// international_prefix "00".
	Numbering telephony.NumberPlan `yaml:"numbering"`
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
	// FinalCodes are 5xx statuses this carrier means as final: a call
	// answered with one ends instead of trying the next trunk of its
	// outbound rule (config/carrier.go). Default none.
	FinalCodes []int `yaml:"final_codes"`
	// Health configures OPTIONS probes of the trunk. Default: none.
	Health TrunkHealth `yaml:"health"`
	// Identity is how the caller is presented on outbound calls: from,
	// pai or rpid (IdentityHeader). Default from.
	Identity IdentityHeader `yaml:"identity"`
	// TrustIdentity takes the caller of inbound calls from
	// P-Asserted-Identity (RFC 3325 section 9.1) when present; set it only
	// for a trunk of the gateway's trust domain. Default false (From).
	TrustIdentity bool `yaml:"trust_identity"`
	// DNSSRV resolves a host name through DNS SRV records (_sip._udp,
	// _sip._tcp or _sips._tcp, RFC 3263 section 4.2) by priority and
	// weight, each target's A records in turn; without it (or without
	// records) the host's A records are tried in turn. Default false.
	DNSSRV bool `yaml:"dns_srv"`
	// Inbound selects this trunk's INVITEs among trunks that share a
	// source address, or admits them by digest authentication
	// (config/carrier.go). Default: source addresses alone.
	Inbound TrunkInbound `yaml:"inbound"`
	// PRACK is the trunk's use of reliable provisional responses (RFC
	// 3262): off, supported or required (config/trunkmodes.go). Default
	// supported.
	PRACK PRACKMode `yaml:"prack"`
	// DTMF is how digits travel to the trunk: rfc4733, info or auto
	// (config/trunkmodes.go). Default rfc4733.
	DTMF DTMFMode `yaml:"dtmf"`
	// DTMFInfo is the body type of the SIP INFO digits sent to the trunk:
	// dtmf-relay or dtmf (config/trunkmodes.go). Only with dtmf info or
	// auto. Default dtmf-relay.
	DTMFInfo DTMFInfoType `yaml:"dtmf_info"`
	// MediaEncryption is none, sdes or sdes_optional: SRTP keyed in the
	// SDP (config/mediaenc.go). Default none.
	MediaEncryption MediaEncryption `yaml:"media_encryption"`
	// Transfer is off or refer: whether the browser's blind transfers of
	// the trunk's calls are sent to it as REFER (config/transfer.go).
	// Default off.
	Transfer TransferMode `yaml:"transfer"`
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

// setDefaults gives a trunk decoded from a list element its static
// defaults.
func (t *Trunk) setDefaults() {
	t.Transport = telephony.TransportUDP
	t.Register.Expiry = 300 * time.Second
	t.Numbering = telephony.NumberPlan{
		Format:              telephony.FormatE164,
		NationalPrefix:      "0",
		InternationalPrefix: "00",
	}
	t.Codecs = []Codec{CodecPCMU, CodecPCMA}
	t.setCarrierDefaults()
	t.setModeDefaults()
	t.Transfer = TransferOff
	t.MediaEncryption = MediaEncryptionNone
}

// applyDerivedDefaults fills the defaults that depend on other fields of
// the trunk.
func (t *Trunk) applyDerivedDefaults() {
	if t.Port == 0 {
		t.Port = t.Transport.DefaultPort()
	}
	t.applyCarrierDefaults()
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
