// Package sipws is the SIP over WebSocket front door (RFC 7118) for
// existing SIP softphones such as JsSIP and SIP.js. It terminates the
// client's SIP: registrations with digest authentication (RFC 3261
// section 22, RFC 7616), and each call's dialog as the browser side of a
// back-to-back user agent. Call control stays in package gateway: every
// call becomes messages of the JSON protocol (docs/protocol.md) on a
// [Door], so dial rules, limits, routing, the WebRTC leg, records and
// metrics are the same as for webtrunk.js.
package sipws

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Subprotocol is the WebSocket subprotocol of SIP (RFC 7118 section 4.1).
const Subprotocol = "sip"

// maxMessageSize bounds one SIP message (one WebSocket message, RFC 7118
// section 5.1), in bytes: an SDP offer of a browser is about 5 KiB.
const maxMessageSize = 64 << 10

// Gateway is what the front door needs of call control.
type Gateway interface {
	// Open starts a signaling connection of id (a configured user, or a
	// token's), seen from remote; out receives the gateway's messages for
	// it, in order, from one goroutine. It fails when the user is no
	// longer allowed in or is locked.
	Open(remote netip.Addr, id auth.Identity, out func(signaling.Message)) (Door, error)
	// SIPPassword returns the user's auth.users[].sip_password in the
	// current configuration; false when the user has none.
	SIPPassword(user string) (string, bool)
	// Token checks a bearer token (auth.jwt) presented by remote, with
	// the errors of auth.Authenticator.Token.
	Token(remote netip.Addr, token string) (auth.Identity, error)
}

// Door is one signaling connection of a user, driven with the JSON
// protocol's client messages.
type Door interface {
	// Send handles one client message, as the gateway would from a
	// WebSocket of webtrunk.js; failures come back as ErrorReply.
	Send(m signaling.ClientMessage)
	// Ring makes inbound calls of the user ring this connection (on) or
	// stop ringing it.
	Ring(on bool)
	// Withdraw stops an inbound call ringing this connection without
	// declining it for the user's other connections.
	Withdraw(callID string)
	// Done is closed when the gateway ends the connection (shutdown).
	Done() <-chan struct{}
	// Close ends the connection's calls and releases it.
	Close()
}

// Server serves SIP over WebSocket; it is an http.Handler for the path of
// sip_websocket.path, behind the gateway's Origin check.
type Server struct {
	cfg     config.SIPWebSocketConfig
	gw      Gateway
	log     *slog.Logger
	metrics *Metrics
	auth    *digestAuth
	reg     *registrar

	mu    sync.Mutex
	conns map[*conn]struct{}
}

// New returns a Server for cfg on gw; log may be nil to discard logs,
// metrics may be nil to count nothing.
func New(cfg config.SIPWebSocketConfig, gw Gateway, log *slog.Logger, metrics *Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	s := &Server{
		cfg: cfg, gw: gw, log: log.With("front_door", "sip_websocket"), metrics: metrics,
		conns: make(map[*conn]struct{}),
	}
	s.auth = newDigestAuth(cfg.Domain, cfg.DigestAlgorithms, gw.SIPPassword)
	s.reg = newRegistrar(cfg.MaxRegistrationsPerUser, metrics)

	return s
}

// ServeHTTP upgrades the request to a WebSocket with subprotocol sip and
// serves SIP on it until it closes (RFC 7118 section 4): a client that
// does not offer the subprotocol is refused with 426.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{Subprotocol}, InsecureSkipVerify: true,
	})
	if err != nil {
		s.log.Debug("websocket upgrade", "error", err)

		return
	}
	if ws.Subprotocol() != Subprotocol {
		s.metrics.Refused.WithLabelValues("subprotocol").Inc()
		_ = ws.Close(websocket.StatusProtocolError, `subprotocol "sip" required (RFC 7118)`)

		return
	}
	ws.SetReadLimit(maxMessageSize)
	c := newConn(s, ws, remoteAddr(r), r.TLS != nil)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.Connections.Inc()
	defer s.metrics.Connections.Dec()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// remoteAddr is the client's IP address.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}

	return ap.Addr().Unmap()
}

// token returns n random bytes in hex, for tags, branches and Call-IDs.
func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}
