package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// sipgoNetwork returns the transport name as sipgo writes it in Via ("UDP", "TCP", "TLS").
func sipgoNetwork(t telephony.Transport) string {
	switch t {
	case telephony.TransportTCP:
		return "TCP"
	case telephony.TransportTLS:
		return "TLS"
	default:
		return "UDP"
	}
}

// Listener is one socket the user agent receives SIP on.
type Listener struct {
	// Transport is udp, tcp or tls.
	Transport telephony.Transport
	// Addr is the bind address host:port; port 0 picks a free port (see UA.ListenAddr).
	Addr string
	// TLS is the server configuration (certificate) for a tls listener; required for tls.
	TLS *tls.Config
	// PublicPort is the port written in Via and Contact when a NAT maps it to another one; 0 = the bound port.
	PublicPort int
}

// Trunk is a carrier or PBX the gateway exchanges calls with.
type Trunk struct {
	// Name identifies the trunk in DialRequest, IncomingCall and RegistrationState.
	Name string
	// Host is the trunk's SIP server, an IP address or a host name resolved on each request.
	Host string
	// Port is the trunk's SIP port; 0 = 5060 (5061 for tls).
	Port int
	// Transport is how requests are sent to the trunk; "" = udp. A listener of the same transport is required.
	Transport telephony.Transport
	// Username and Password answer digest challenges (RFC 3261 section 22, RFC 2617) and are the
	// registration's user. Password is never logged.
	Username, Password string
	// Realm, when set, is the only realm credentials are given to; a challenge for another realm fails.
	Realm string
	// Register makes the user agent REGISTER to the trunk (RFC 3261 section 10).
	Register bool
	// RegisterExpiry is the requested registration lifetime; 0 = 3600 s.
	RegisterExpiry time.Duration
	// CallerID is the default caller number (E.164) placed in From for outbound calls.
	CallerID string
	// Numbering rewrites numbers between E.164 and the trunk's format.
	Numbering telephony.NumberPlan
	// Codecs is the order of preference for offers and answers; empty = PCMU, PCMA.
	Codecs []telephony.Codec
	// AllowedSources are the networks INVITEs and OPTIONS for this trunk may come from; empty = Host
	// when it is an IP address (a trunk given by name accepts no inbound requests unless set).
	// An inbound call belongs to the first trunk, in configuration order, that allows its source.
	AllowedSources []netip.Prefix
	// MaxCalls limits concurrent calls on the trunk (both directions); 0 = unlimited.
	MaxCalls int
	// Identity is how outbound INVITEs present the caller (identity.go); "" = IdentityFrom.
	Identity IdentityHeader
	// TrustIdentity makes inbound calls take the caller from P-Asserted-Identity (RFC 3325
	// section 9.1): set it only for a trunk inside the gateway's trust domain.
	TrustIdentity bool
	// SRV makes a trunk given by host name resolve through DNS SRV records (RFC 3263 section
	// 4.2, UA.Targets) instead of the host's A and AAAA records alone.
	SRV bool
	// Inbound tells this trunk's INVITEs apart from those of trunks sharing its source address,
	// or admits them by digest authentication (inboundselect.go). An inbound call belongs to the
	// first trunk allowing its source whose selectors all match, else to the first without
	// selectors.
	Inbound InboundSelect
	// PRACK is the trunk's use of reliable provisional responses (RFC 3262, prack.go); "" =
	// PRACKSupported.
	PRACK PRACKMode
	// DTMFInfo is the body type of the INFO requests Call.SendDigit sends (info.go); "" =
	// DTMFInfoRelay.
	DTMFInfo DTMFInfoType
	// MediaEncryption is how the trunk's media is protected: EncryptionNone ("" too),
	// EncryptionSDES or EncryptionSDESOptional (SRTP keyed in the SDP, RFC 4568). SDES needs
	// Transport tls.
	MediaEncryption MediaEncryption
}

// Config configures a UA. Zero durations take the documented defaults.
type Config struct {
	// Listeners are the sockets to receive SIP on; at least one. One listener per transport is used for sending.
	Listeners []Listener
	// PublicHost is the host (IP or name) written in Via, Contact and From; "" = the first listener's bound IP.
	PublicHost string
	// MediaIP is the address written in SDP c= lines; invalid (zero) = PublicHost when it is an IP
	// address, else the address the RTP socket is bound to.
	MediaIP netip.Addr
	// UserAgent is the User-Agent/Server header value and the SDP s= line; "" = "webtrunk".
	UserAgent string
	// RejectUnknownSources answers out-of-dialog requests from unknown addresses with 403; false drops them silently.
	RejectUnknownSources bool
	// RTPPorts provides one RTP socket pair per call; required.
	RTPPorts *PortPool
	// Trunks are the carriers and PBXs; at least one, names unique.
	Trunks []Trunk
	// Logger receives the user agent's logs; nil discards them.
	Logger *slog.Logger
	// ClientTLS configures outbound TLS connections (server name, roots); nil = system roots.
	ClientTLS *tls.Config
	// Resolver looks up the SRV and address records of trunks given by name (UA.Targets); nil =
	// net.DefaultResolver.
	Resolver *net.Resolver

	// RegisterRetryMin is the first back-off after a failed REGISTER; 0 = 5 s. It doubles up to RegisterRetryMax.
	RegisterRetryMin time.Duration
	// RegisterRetryMax bounds the REGISTER back-off; 0 = 5 min. A Retry-After header (RFC 3261 section 20.33) overrides it.
	RegisterRetryMax time.Duration
	// RegisterTimeout bounds one REGISTER exchange, including un-REGISTER at shutdown; 0 = 10 s.
	RegisterTimeout time.Duration
	// SessionExpires is the session interval offered and accepted (RFC 4028); 0 = 1800 s; negative disables session timers on Dial.
	SessionExpires time.Duration
	// MinSE is the smallest session interval accepted (RFC 4028 section 5); 0 = 90 s, never below 90 s per the RFC.
	MinSE time.Duration
	// RingTimeout ends an IncomingCall neither answered nor rejected with 480; 0 = 3 min.
	RingTimeout time.Duration
	// HangupTimeout bounds a BYE sent at shutdown or after a failure; 0 = 5 s.
	HangupTimeout time.Duration
	// TransferTimeout bounds the wait for the final NOTIFY of a transfer the trunk accepted
	// (Call.Transfer): when none came, the transfer is reported failed with status 408 and
	// another may start; 0 = 3 minutes, time for the target to ring and answer.
	TransferTimeout time.Duration
	// InviteRate is how many new INVITEs per second one source address may send (a token bucket
	// refilled at this rate, RFC 3261 leaves admission to the UAS); one beyond it is answered 503
	// Service Unavailable with Retry-After (RFC 3261 section 21.5.4) before any resource is
	// taken, and counted in Stats.InviteRateLimited. 0 = 10 per second; negative = no limit.
	InviteRate float64
	// InviteBurst is the bucket size of InviteRate: how many INVITEs one source may send at once;
	// 0 = 20.
	InviteBurst int
	// RefusedLogInterval is how often requests from unknown sources may be logged: at most one
	// line per source address per interval, and one summary line per interval of how many were
	// refused from how many sources (see Stats for the totals); 0 = 1 min.
	RefusedLogInterval time.Duration
}

const minSessionExpires = 90 * time.Second

// Defaults of Config.InviteRate and Config.InviteBurst: enough for a busy trunk's new calls,
// little for a flood.
const (
	defaultInviteRate  = 10
	defaultInviteBurst = 20
)

// withDefaults returns a copy of c with zero values replaced by their defaults.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RegisterRetryMin, 5*time.Second)
	def(&c.RegisterRetryMax, 5*time.Minute)
	def(&c.RegisterTimeout, 10*time.Second)
	def(&c.SessionExpires, 1800*time.Second)
	def(&c.MinSE, minSessionExpires)
	def(&c.RingTimeout, 3*time.Minute)
	def(&c.HangupTimeout, 5*time.Second)
	def(&c.TransferTimeout, 3*time.Minute)
	def(&c.RefusedLogInterval, time.Minute)
	if c.InviteRate == 0 {
		c.InviteRate = defaultInviteRate
	}
	if c.InviteBurst == 0 {
		c.InviteBurst = defaultInviteBurst
	}
	if c.MinSE < minSessionExpires {
		c.MinSE = minSessionExpires
	}
	c.UserAgent = strings.TrimSpace(sanitizeText(c.UserAgent))
	if c.UserAgent == "" {
		c.UserAgent = "webtrunk"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Trunks = append([]Trunk(nil), c.Trunks...)
	for i := range c.Trunks {
		t := &c.Trunks[i]
		if t.Transport == "" {
			t.Transport = telephony.TransportUDP
		}
		if t.Port == 0 {
			t.Port = 5060
			if t.Transport == telephony.TransportTLS {
				t.Port = 5061
			}
		}
		if t.RegisterExpiry == 0 {
			t.RegisterExpiry = time.Hour
		}
		if len(t.Codecs) == 0 {
			t.Codecs = []telephony.Codec{telephony.PCMU, telephony.PCMA}
		}
		if len(t.AllowedSources) == 0 {
			if ip, err := netip.ParseAddr(t.Host); err == nil {
				t.AllowedSources = []netip.Prefix{netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())}
			}
		}
	}
	return c
}

// validate reports every problem of a defaulted configuration at once.
func (c Config) validate() error {
	var errs []error
	if len(c.Listeners) == 0 {
		errs = append(errs, fmt.Errorf("%w: no listeners", ErrInvalidConfig))
	}
	seen := map[telephony.Transport]bool{}
	for i, l := range c.Listeners {
		if !l.Transport.Valid() {
			errs = append(errs, fmt.Errorf("%w: listeners[%d]: unknown transport %q", ErrInvalidConfig, i, l.Transport))
		}
		if seen[l.Transport] {
			errs = append(errs, fmt.Errorf("%w: listeners[%d]: second %s listener", ErrInvalidConfig, i, l.Transport))
		}
		seen[l.Transport] = true
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			errs = append(errs, fmt.Errorf("%w: listeners[%d]: addr: %w", ErrInvalidConfig, i, err))
		}
		if l.Transport == telephony.TransportTLS && l.TLS == nil {
			errs = append(errs, fmt.Errorf("%w: listeners[%d]: tls listener without TLS config", ErrInvalidConfig, i))
		}
	}
	if c.RTPPorts == nil {
		errs = append(errs, fmt.Errorf("%w: RTPPorts is nil", ErrInvalidConfig))
	}
	if len(c.Trunks) == 0 {
		errs = append(errs, fmt.Errorf("%w: no trunks", ErrInvalidConfig))
	}
	names := map[string]bool{}
	for i, t := range c.Trunks {
		p := "trunks[" + strconv.Itoa(i) + "]"
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%w: %s: empty name", ErrInvalidConfig, p))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("%w: %s: duplicate name %q", ErrInvalidConfig, p, t.Name))
		}
		names[t.Name] = true
		if t.Host == "" {
			errs = append(errs, fmt.Errorf("%w: %s: empty host", ErrInvalidConfig, p))
		}
		if !t.Transport.Valid() {
			errs = append(errs, fmt.Errorf("%w: %s: unknown transport %q", ErrInvalidConfig, p, t.Transport))
		} else if !seen[t.Transport] {
			errs = append(errs, fmt.Errorf("%w: %s: %w (%s)", ErrInvalidConfig, p, ErrNoTransport, t.Transport))
		}
		if t.Register && t.Username == "" {
			errs = append(errs, fmt.Errorf("%w: %s: register without username", ErrInvalidConfig, p))
		}
		if t.MaxCalls < 0 {
			errs = append(errs, fmt.Errorf("%w: %s: negative max calls", ErrInvalidConfig, p))
		}
		if !t.MediaEncryption.Valid() {
			errs = append(errs, fmt.Errorf("%w: %s: unknown media encryption %q", ErrInvalidConfig, p, t.MediaEncryption))
		} else if t.MediaEncryption.enabled() && t.Transport != telephony.TransportTLS {
			errs = append(errs, fmt.Errorf("%w: %s: media encryption %s needs transport tls (RFC 4568 section 8.3)", ErrInvalidConfig, p, t.MediaEncryption))
		}
		if t.RegisterExpiry < time.Second {
			errs = append(errs, fmt.Errorf("%w: %s: register expiry below 1 s", ErrInvalidConfig, p))
		}
	}
	if c.InviteBurst < 0 {
		errs = append(errs, fmt.Errorf("%w: negative invite burst", ErrInvalidConfig))
	}
	if c.RefusedLogInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: negative refused-log interval", ErrInvalidConfig))
	}
	if c.RegisterRetryMax < c.RegisterRetryMin {
		errs = append(errs, fmt.Errorf("%w: register retry max below min", ErrInvalidConfig))
	}
	if c.SessionExpires > 0 && c.SessionExpires < c.MinSE {
		errs = append(errs, fmt.Errorf("%w: session expires below min-SE", ErrInvalidConfig))
	}
	return errors.Join(errs...)
}
