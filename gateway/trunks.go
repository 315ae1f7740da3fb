package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// errNoSIPListener is returned by sipConfig for a configuration without a
// SIP listener (config.Validate rejects it; this guards code-built configs).
var errNoSIPListener = errors.New("gateway: no sip listener configured")

// sipConfig maps the sip and trunks sections of the configuration to the
// trunk-side user agent's configuration: listeners (with their TLS
// certificates), the public host, the RTP port pool on the first listener's
// IP, the per-source INVITE rate, and one sip.Trunk per configured trunk with its numbering plan,
// codecs, allowed sources, registration and call limit.
func sipConfig(cfg *config.Config, logger *slog.Logger) (sip.Config, error) {
	if len(cfg.SIP.Listeners) == 0 {
		return sip.Config{}, errNoSIPListener
	}
	sc := sip.Config{
		PublicHost:           cfg.SIP.PublicHost,
		UserAgent:            cfg.SIP.UserAgent,
		RejectUnknownSources: cfg.SIP.UnknownSources != config.UnknownSourcesIgnore,
		Logger:               logger,
		RingTimeout:          maxRingTimeout(cfg),
		InviteRate:           -1, // sip.invite_rate.per_second 0: no limit
		InviteBurst:          cfg.SIP.InviteRate.Burst,
	}
	if r := cfg.SIP.InviteRate.PerSecond; r > 0 {
		sc.InviteRate = float64(r)
	}
	roots, err := cfg.SIP.TrunkRoots()
	if err != nil {
		return sip.Config{}, fmt.Errorf("gateway: %w", err)
	}
	if roots != nil {
		sc.ClientTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	for i, l := range cfg.SIP.Listeners {
		sl := sip.Listener{Transport: l.Transport, Addr: l.Listen}
		if l.TLS.Enabled() {
			cert, err := tls.LoadX509KeyPair(l.TLS.CertFile, l.TLS.KeyFile)
			if err != nil {
				return sip.Config{}, fmt.Errorf("gateway: sip.listeners[%d].tls: %w", i, err)
			}
			sl.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		sc.Listeners = append(sc.Listeners, sl)
	}
	rtpIP, err := rtpBindIP(cfg)
	if err != nil {
		return sip.Config{}, err
	}
	if ip, perr := netip.ParseAddr(cfg.SIP.PublicHost); perr == nil {
		sc.MediaIP = ip
	}
	pool, err := sip.NewPortPool(rtpIP, cfg.SIP.RTP.PortMin, cfg.SIP.RTP.PortMax)
	if err != nil {
		return sip.Config{}, fmt.Errorf("gateway: sip.rtp: %w", err)
	}
	sc.RTPPorts = pool
	for i := range cfg.Trunks {
		t, err := sipTrunk(&cfg.Trunks[i])
		if err != nil {
			return sip.Config{}, err
		}
		sc.Trunks = append(sc.Trunks, t)
	}

	return sc, nil
}

// rtpBindIP is the address RTP sockets bind: the IP of the first SIP
// listener, or the unspecified IPv4 address when that listener binds every
// interface.
func rtpBindIP(cfg *config.Config) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(cfg.SIP.Listeners[0].Listen)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("gateway: sip.listeners[0].listen: %w", err)
	}
	if host == "" {
		return netip.IPv4Unspecified(), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("gateway: sip.listeners[0].listen: %w", err)
	}

	return ip.Unmap(), nil
}

// maxRingTimeout is the longest ring time of any route (and the default),
// the bound the user agent puts on an unanswered inbound call. The gateway
// ends ringing itself at the route's own ring timeout.
func maxRingTimeout(cfg *config.Config) (d time.Duration) {
	d = cfg.Calls.RingTimeout
	for _, r := range cfg.Routes {
		d = max(d, r.RingTimeout)
	}

	return d + ringTimeoutSlack
}

// sipTrunk converts one configured trunk.
func sipTrunk(t *config.Trunk) (sip.Trunk, error) {
	st := sip.Trunk{
		Name:            t.Name,
		Host:            t.Host,
		Port:            t.Port,
		Transport:       t.Transport,
		Username:        t.Auth.Username,
		Password:        t.Auth.Password.Reveal(),
		Realm:           t.Auth.Realm,
		Register:        t.Register.Enabled,
		RegisterExpiry:  t.Register.Expiry,
		CallerID:        t.CallerID,
		Numbering:       t.Numbering,
		AllowedSources:  t.AllowedSources,
		MaxCalls:        t.MaxCalls,
		Identity:        sip.IdentityHeader(t.Identity),
		TrustIdentity:   t.TrustIdentity,
		SRV:             t.DNSSRV,
		MediaEncryption: sip.MediaEncryption(t.MediaEncryption),
		PRACK:           sip.PRACKMode(t.PRACK),
		DTMFInfo:        sip.DTMFInfoType(t.DTMFInfo),
		Inbound: sip.InboundSelect{
			RequestHost: t.Inbound.RequestHost, RequestUser: t.Inbound.RequestUser,
			Header: t.Inbound.Header, HeaderValue: t.Inbound.HeaderValue,
			DigestUser: t.Inbound.Digest.Username, DigestPassword: t.Inbound.Digest.Password.Reveal(),
			DigestRealm: t.Inbound.Digest.Realm,
		},
	}
	for _, c := range t.Codecs {
		sc, ok := telephony.G711ByName(string(c))
		if !ok {
			return sip.Trunk{}, fmt.Errorf("gateway: trunk %s: %w: %s", t.Name, sip.ErrNoCommonCodec, c)
		}
		st.Codecs = append(st.Codecs, sc)
	}

	return st, nil
}
