package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// originLogInterval is the least time between two log lines about the same
// refused Origin.
const originLogInterval = time.Minute

// originLogKeys bounds the refused Origins remembered for throttling.
const originLogKeys = 1024

// ownOrigins returns the origins of the gateway's own pages, which may
// open the WebSocket beside http.allowed_origins: http.public_url when
// set; otherwise those of the bound HTTP address (scheme by http.tls, with
// "localhost" and both loopback addresses for a loopback or unspecified
// bind). The request's Host header is never used: a DNS-rebinding page
// sends its own host name there.
func ownOrigins(publicURL string, tls bool, bound net.Addr) map[string]struct{} {
	out := make(map[string]struct{})
	if publicURL != "" {
		out[publicURL] = struct{}{}

		return out
	}
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil {
		return out
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	port := ":" + strconv.Itoa(int(ap.Port()))
	add := func(host string) { out[scheme+host+port] = struct{}{} }
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsLoopback() || ip.IsUnspecified():
		add("localhost")
		add("127.0.0.1")
		add("[::1]")
	case ip.Is6():
		add("[" + ip.String() + "]")
	default:
		add(ip.String())
	}

	return out
}

// originAllowed checks the Origin header of a WebSocket upgrade: a request
// without one (not from a browser) is allowed; a browser's must be one of
// the gateway's own origins or of http.allowed_origins, exactly. A refused
// Origin is logged, at most once a minute per Origin, with the settings
// that would allow it.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if g.originKnown(origin) {
		return true
	}
	g.metrics.OriginsRefused.Inc()
	if g.originLog.allow(origin, time.Now()) {
		g.log.Warn("websocket refused: origin not allowed", "origin", origin, "remote", remoteAddr(r).String(),
			"fix", "add the origin to http.allowed_origins, or set http.public_url if it is this gateway's own address")
	}

	return false
}

// originKnown reports whether a WebSocket upgrade with Origin header
// origin may proceed: no Origin (not a browser), one of the gateway's own
// origins, or one of http.allowed_origins, exactly.
func (g *Gateway) originKnown(origin string) bool {
	if origin == "" {
		return true
	}
	if _, ok := g.origins[origin]; ok {
		return true
	}
	for _, o := range g.cfg.HTTP.AllowedOrigins {
		if o == origin {
			return true
		}
	}

	return false
}

// throttle allows one event per key per interval, remembering at most max
// keys (beyond that, keys last seen an interval ago are forgotten, and
// new keys are refused until some are). It is safe for concurrent use.
type throttle struct {
	interval time.Duration
	max      int

	mu   sync.Mutex
	last map[string]time.Time
}

func newThrottle(interval time.Duration, maxKeys int) *throttle {
	return &throttle{interval: interval, max: maxKeys, last: make(map[string]time.Time)}
}

// allow reports whether an event for key at now is due.
func (t *throttle) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.last[key]; ok && now.Sub(at) < t.interval {
		return false
	}
	if _, ok := t.last[key]; !ok && len(t.last) >= t.max {
		for k, at := range t.last {
			if now.Sub(at) >= t.interval {
				delete(t.last, k)
			}
		}
		if len(t.last) >= t.max {
			return false
		}
	}
	t.last[key] = now

	return true
}
