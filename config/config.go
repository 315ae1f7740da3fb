package config

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Config is the whole configuration of one gateway process. Its YAML keys are
// snake_case; see example.yaml for a documented file. Obtain one with [Load]
// or [Parse], which apply defaults and validate, or start from [Default] when
// building a configuration in code and call [Config.Validate] before use.
//
// A Config is not modified by the gateway after loading and may be read from
// any number of goroutines.
type Config struct {
	// HTTP is the browser-facing HTTP and WebSocket listener.
	HTTP HTTPConfig `yaml:"http"`
	// SIP is the trunk-facing SIP user agent.
	SIP SIPConfig `yaml:"sip"`
	// WebRTC is the browser-facing media configuration.
	WebRTC WebRTCConfig `yaml:"webrtc"`
	// Trunks are the SIP trunks (carriers or PBXs) calls are bridged to. Any
	// number may be configured, including none when no route or outbound
	// rule refers to a trunk.
	Trunks []Trunk `yaml:"trunks"`
	// Auth configures how browsers authenticate.
	Auth AuthConfig `yaml:"auth"`
	// DefaultDialRules apply to configured users without their own
	// dial_rules and to users authenticated by a JWT whose subject is not a
	// configured user (a token for a configured user gets that user's
	// rules). Default: empty, which allows no number at all (see
	// [Config.Warnings]).
	DefaultDialRules DialRules `yaml:"default_dial_rules"`
	// Outbound selects the trunk for each dialled E.164 number; the first
	// matching rule wins. Default: empty (no outbound calls).
	Outbound []OutboundRule `yaml:"outbound"`
	// Routes map inbound DIDs to users. Default: empty (inbound calls are
	// answered 404 Not Found by the gateway).
	Routes []Route `yaml:"routes"`
	// Calls holds per-call timers and media options.
	Calls CallsConfig `yaml:"calls"`
	// Log configures the process logger.
	Log LogConfig `yaml:"log"`
	// Metrics configures the Prometheus endpoint.
	Metrics MetricsConfig `yaml:"metrics"`
	// Admin is the operators' listener: admin API, metrics, profiles.
	Admin AdminConfig `yaml:"admin"`
	// CDR is where call detail records go.
	CDR CDRConfig `yaml:"cdr"`
	// Limits are the fraud limits of users without their own.
	Limits Limits `yaml:"limits"`
	// Webhooks send call events to the operator's backend.
	Webhooks WebhooksConfig `yaml:"webhooks"`
	// Shutdown configures graceful shutdown.
	Shutdown ShutdownConfig `yaml:"shutdown"`
	// TURN relays media for browsers that cannot reach the gateway
	// directly (config/turn.go). Default: off.
	TURN TURNConfig `yaml:"turn"`
	// Cluster is what several instances share (config/cluster.go).
	// Default: nothing shared.
	Cluster ClusterConfig `yaml:"cluster"`
	// SIPWebSocket is the SIP over WebSocket front door (config/sipws.go).
	// Default: off.
	SIPWebSocket SIPWebSocketConfig `yaml:"sip_websocket"`
	// Quality is the uplink's jitter buffer and the thresholds of the
	// quality warnings (config/quality.go).
	Quality QualityConfig `yaml:"quality"`

	// lines maps field paths (as in FieldError.Path) to the line of the
	// YAML node they were decoded from; nil for configurations built in code.
	lines map[string]int
}

// HTTPConfig is the HTTP listener. It serves the WebSocket signaling
// endpoint (/ws), /healthz, /readyz, the metrics endpoint and the softphone
// page at /.
type HTTPConfig struct {
	// Listen is the bind address as host:port; host is an IP literal, or
	// empty for all interfaces; port 0 picks a free port.
	// Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TLS enables HTTPS when both files are set. Browsers grant microphone
	// access only to secure origins (HTTPS or localhost).
	TLS TLSFiles `yaml:"tls"`
	// PublicURL is the origin browsers reach this gateway at,
	// scheme://host[:port] ("https://phone.example.com"): pages it serves
	// there may open the WebSocket. Default empty: the origins of the
	// bound address are used instead (with "localhost" for a loopback
	// address), which suits a gateway reached by its IP address.
	PublicURL string `yaml:"public_url"`
	// AllowedOrigins lists further Origin header values accepted on the
	// WebSocket endpoint, exactly as browsers send them
	// ("https://app.example.com"): the pages of other sites that embed the
	// client. Default empty. A request's Host header is never trusted for
	// this (a DNS-rebinding page would pass such a check).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxConnections caps the WebSockets open at once, authenticated or
	// not; beyond it an upgrade is answered 503. From 1 to 1000000.
	// Default 10000.
	MaxConnections int `yaml:"max_connections"`
	// Softphone serves the demo softphone page at / (index.html,
	// softphone.js, softphone.css). Turn it off in production when the
	// gateway serves only the client library (/webtrunk.js) to pages of
	// one's own; those paths then answer 404. Default true.
	Softphone bool `yaml:"softphone"`
}

// TLSFiles names a PEM certificate chain and its private key. Both or
// neither must be set, and both files must exist when Validate runs.
// Relative paths are relative to the working directory of the process.
type TLSFiles struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf certificate.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether both files are set.
func (t TLSFiles) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// SIPConfig is the trunk-facing SIP user agent (RFC 3261).
type SIPConfig struct {
	// Listeners are the SIP sockets; at least one is required.
	Listeners []SIPListener `yaml:"listeners"`
	// PublicHost is the host name or IP address written into Via, Contact
	// and the SDP c= line (RFC 4566 section 5.7) when it differs from the
	// bind address, for example behind 1:1 NAT. Default: the IP address of
	// the first listener, when that listener binds a specific address.
	PublicHost string `yaml:"public_host"`
	// UserAgent is sent in the User-Agent and Server headers (RFC 3261
	// sections 20.41 and 20.35). Default "Webtrunk".
	UserAgent string `yaml:"user_agent"`
	// UnknownSources says what happens to an INVITE from an address no
	// trunk allows. Default [UnknownSourcesReject].
	UnknownSources UnknownSourcePolicy `yaml:"unknown_sources"`
	// RTP is the port range of trunk-side media sockets.
	RTP PortRange `yaml:"rtp"`
	// InviteRate limits the new INVITEs one source address may send; those
	// beyond it are answered 503 with Retry-After (RFC 3261 section 21.5.4)
	// before any resource is taken. Default 10 per second, burst 20.
	InviteRate RateLimit `yaml:"invite_rate"`
	// TLSCAFile is a PEM file of the certificate authorities trusted to
	// sign trunks' certificates over TLS (config/mediaenc.go). Default
	// empty: the system's roots.
	TLSCAFile string `yaml:"tls_ca_file"`
}

// RateLimit is a token bucket: PerSecond tokens are added each second, up
// to Burst.
type RateLimit struct {
	// PerSecond is the sustained rate, a whole number; 0 turns the limit
	// off. At least 0.
	PerSecond int `yaml:"per_second"`
	// Burst is how many may come at once; at least 1 when PerSecond is set.
	Burst int `yaml:"burst"`
}

// UnknownSourcePolicy is the treatment of INVITEs from addresses that no
// trunk's allowed_sources contains.
type UnknownSourcePolicy string

const (
	// UnknownSourcesReject answers 403 Forbidden.
	UnknownSourcesReject UnknownSourcePolicy = "reject"
	// UnknownSourcesIgnore drops the request without any response, which
	// gives scanners nothing to learn from.
	UnknownSourcesIgnore UnknownSourcePolicy = "ignore"
)

// SIPListener is one SIP socket.
type SIPListener struct {
	// Transport is udp, tcp or tls (RFC 3261 section 18). Default udp.
	Transport telephony.Transport `yaml:"transport"`
	// Listen is the bind address as host:port; host is an IP literal, or
	// empty for all interfaces; port 0 picks a free port.
	Listen string `yaml:"listen"`
	// TLS holds the certificate and key; required for transport tls and
	// not allowed otherwise.
	TLS TLSFiles `yaml:"tls"`
}

// PortRange is an inclusive range of UDP ports for RTP. Each call takes an
// even port for RTP and the next odd port for RTCP (RFC 3550 section 11), so
// the range holds (PortMax-PortMin+1)/2 concurrent trunk legs.
type PortRange struct {
	// PortMin is the first port; it must be even and at least 1024.
	// Default 20000.
	PortMin int `yaml:"port_min"`
	// PortMax is the last port, at most 65535 and at least PortMin+1 (one
	// RTP/RTCP pair). Default 20999.
	PortMax int `yaml:"port_max"`
}

// Pairs returns how many RTP/RTCP port pairs the range holds.
func (r PortRange) Pairs() int {
	if r.PortMax < r.PortMin {
		return 0
	}
	return (r.PortMax - r.PortMin + 1) / 2
}

// WebRTCConfig is the browser-facing media configuration. The gateway is an
// ICE-lite agent (RFC 8445 section 2.5) with host candidates only.
type WebRTCConfig struct {
	// UDPListen is the one UDP socket all WebRTC media is multiplexed on, as
	// host:port. Default "127.0.0.1:50000".
	UDPListen string `yaml:"udp_listen"`
	// TCPListen optionally adds one ICE-TCP passive listener (RFC 6544) for
	// browsers whose UDP is blocked, as host:port. Default empty (off).
	TCPListen string `yaml:"tcp_listen"`
	// PublicIPs are the addresses announced as host candidates (1:1 NAT
	// mapping of the listeners). At least one is required, and at most one
	// IPv4 and one IPv6 address.
	PublicIPs []netip.Addr `yaml:"public_ips"`
	// ICEServers are STUN/TURN servers handed to browsers for their own
	// candidates. Default empty.
	ICEServers []ICEServer `yaml:"ice_servers"`
}

// ICEServer is one entry of RTCConfiguration.iceServers handed to browsers.
type ICEServer struct {
	// URLs are stun:, stuns:, turn: or turns: URIs (RFC 7064, RFC 7065).
	// At least one is required.
	URLs []string `yaml:"urls"`
	// Username is the TURN user name; required when any URL is a TURN URL.
	Username string `yaml:"username"`
	// Credential is the TURN password; required when any URL is a TURN
	// URL.
	Credential Secret `yaml:"credential"`
}

// CallsConfig holds per-call timers and media options, and the gateway's
// admission limit.
type CallsConfig struct {
	// RingTimeout ends an unanswered call, from 5s to 10m. Default 60s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MediaTimeout ends a call after this long without any RTP from
	// either leg, from 5s to 10m. Default 30s.
	MediaTimeout time.Duration `yaml:"media_timeout"`
	// MaxDuration ends any call after this long, from 1m to 48h.
	// Default 4h.
	MaxDuration time.Duration `yaml:"max_duration"`
	// TranscodeSameCodec decides what happens when both legs negotiated
	// the same G.711 codec: false relays the audio without transcoding,
	// true decodes and re-encodes it anyway. Default false.
	TranscodeSameCodec bool `yaml:"transcode_same_codec"`
	// MaxConcurrent limits the calls in progress through the whole gateway,
	// outbound and inbound counted together: an outbound call counts from
	// its dial until it ends, an inbound call from its INVITE being
	// accepted for ringing until it ends. Beyond it a dial is refused with
	// the protocol error over_capacity, an INVITE gets 503 Service
	// Unavailable with Retry-After (RFC 3261 sections 21.5.4 and 20.33),
	// and /readyz answers 503. Set it from the capacity measured with
	// cmd/loadgen (README, "Capacity"): about 100 transcoded calls per
	// core, about three times as many passthrough calls. 0 means
	// unlimited; negative values are invalid. Default 0.
	MaxConcurrent int `yaml:"max_concurrent"`
	// OpusComplexity is the complexity of the Opus encoder that encodes
	// the trunk's audio for browsers (libopus OPUS_SET_COMPLEXITY, 0 to
	// 10). The encoder is most of a transcoded call's CPU: lower values
	// cost less per call and lose some quality, and 0 sends no in-band
	// FEC (RFC 7587 section 3.3); the measurements are in
	// docs/performance.md. Default 5.
	OpusComplexity int `yaml:"opus_complexity"`
	// ResumeWindow is how long the calls of a browser whose WebSocket
	// dropped (without a closing handshake) stay up waiting for the browser
	// to come back with its resume token; after it they end with the
	// hang-up reason signaling_lost. 0 turns resuming off: a dropped
	// connection ends its calls at once. From 0 to 10m. Default 30s.
	ResumeWindow time.Duration `yaml:"resume_window"`
}

// LogConfig configures the process logger.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json (log/slog TextHandler or JSONHandler).
	// Default text.
	Format string `yaml:"format"`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Enabled turns the endpoint on. Default true.
	Enabled bool `yaml:"enabled"`
	// Listener is where the endpoint is served: "admin", the admin
	// listener (admin.listen, loopback by default, behind admin.token
	// when one is set), or "http", the browser-facing listener, which
	// makes the metrics readable by anyone who reaches the browsers'
	// port. Default "admin".
	Listener string `yaml:"listener"`
	// Path is the URL path, starting with "/" and different from the
	// gateway's own paths ("/", "/ws", "/healthz", "/readyz").
	// Default "/metrics".
	Path string `yaml:"path"`
}

// ShutdownConfig configures graceful shutdown.
type ShutdownConfig struct {
	// GracePeriod is how long calls in progress may continue after SIGTERM
	// before they are hung up, from 0 to 10m. Default 30s.
	GracePeriod time.Duration `yaml:"grace_period"`
}

// Default returns a Config holding every static default. It is not valid on
// its own: SIP listeners, WebRTC public IPs and authentication have no
// default. Defaults that depend on other fields (trunk ports, allowed
// sources, the SIP public host, route ring timeouts, user dial rules) are
// applied by [Load] and [Parse] after decoding.
func Default() *Config {
	return &Config{
		HTTP: HTTPConfig{Listen: "127.0.0.1:8080", MaxConnections: 10000, Softphone: true},
		Auth: AuthConfig{MaxConnectionsPerUser: 10},
		SIP: SIPConfig{
			UserAgent:      "Webtrunk",
			UnknownSources: UnknownSourcesReject,
			RTP:            PortRange{PortMin: 20000, PortMax: 20999},
			InviteRate:     RateLimit{PerSecond: 10, Burst: 20},
		},
		WebRTC: WebRTCConfig{UDPListen: "127.0.0.1:50000"},
		Calls: CallsConfig{
			RingTimeout:    60 * time.Second,
			MediaTimeout:   30 * time.Second,
			MaxDuration:    4 * time.Hour,
			OpusComplexity: 5,
			ResumeWindow:   30 * time.Second,
		},
		Log:      LogConfig{Level: "info", Format: "text"},
		Metrics:  MetricsConfig{Enabled: true, Listener: MetricsOnAdmin, Path: "/metrics"},
		Admin:    AdminDefault(),
		CDR:      CDRDefault(),
		Webhooks: WebhooksDefault(),
		Cluster:  ClusterDefault(),
		Shutdown: ShutdownConfig{GracePeriod: 30 * time.Second},

		SIPWebSocket: SIPWebSocketDefault(),
		Quality:      QualityDefault(),
	}
}

// setDefaults gives a listener decoded from a list element its defaults.
func (l *SIPListener) setDefaults() { l.Transport = telephony.TransportUDP }

// SlogLevel returns Level as a log/slog level; an unknown level is
// slog.LevelInfo (Validate rejects it).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
