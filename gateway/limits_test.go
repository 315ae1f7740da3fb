package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

func TestOwnOrigins(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		name      string
		publicURL string
		tls       bool
		bound     net.Addr
		want      []string
	}{
		{"public URL only", "https://phone.example.com", true, tcp("0.0.0.0:443"), []string{"https://phone.example.com"}},
		{"loopback", "", false, tcp("127.0.0.1:8080"),
			[]string{"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"}},
		{"unspecified with TLS", "", true, tcp("0.0.0.0:8443"),
			[]string{"https://127.0.0.1:8443", "https://localhost:8443", "https://[::1]:8443"}},
		{"an address of the host", "", true, tcp("192.0.2.10:443"), []string{"https://192.0.2.10:443"}},
		{"IPv6", "", false, tcp("[2001:db8::1]:8080"), []string{"http://[2001:db8::1]:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ownOrigins(tt.publicURL, tt.tls, tt.bound)
			if len(got) != len(tt.want) {
				t.Fatalf("origins %v, want %v", got, tt.want)
			}
			for _, w := range tt.want {
				if _, ok := got[w]; !ok {
					t.Errorf("origins %v lack %q", got, w)
				}
			}
		})
	}
}

// TestOriginCheck opens the WebSocket with the Origin and Host headers of
// the gateway's own page, of a configured site, and of a DNS-rebinding
// page (a foreign host name resolving to the gateway, so that Origin and
// Host agree): only the first two may connect, and the refusal is counted.
func TestOriginCheck(t *testing.T) {
	e := newEnv(t, testConfig{edit: func(c *config.Config) {
		c.HTTP.AllowedOrigins = []string{"https://app.example.com"}
	}})
	port := e.http[strings.LastIndex(e.http, ":")+1:]
	tests := []struct {
		name, origin, host string
		want               int
	}{
		{"own page", "http://127.0.0.1:" + port, "", http.StatusSwitchingProtocols},
		{"own page as localhost", "http://localhost:" + port, "localhost:" + port, http.StatusSwitchingProtocols},
		{"configured site", "https://app.example.com", "", http.StatusSwitchingProtocols},
		{"no Origin (not a browser)", "", "", http.StatusSwitchingProtocols},
		{"DNS rebinding", "http://rebind.example:" + port, "rebind.example:" + port, http.StatusForbidden},
		{"foreign site", "https://evil.example", "", http.StatusForbidden},
		{"configured site over http", "http://app.example.com", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upgradeStatus(t, e, tt.origin, tt.host); got != tt.want {
				t.Fatalf("upgrade status %d, want %d", got, tt.want)
			}
		})
	}
	if got := testutil.ToFloat64(e.gw.metrics.OriginsRefused); got != 3 {
		t.Errorf("refused origins counted %v, want 3", got)
	}
	if n := strings.Count(e.logs.String(), "origin not allowed"); n == 0 {
		t.Error("no log line names the refused origin")
	}
}

// upgradeStatus opens /ws with the given Origin and Host headers (empty:
// none, the URL's) and returns the HTTP status of the upgrade.
func upgradeStatus(t *testing.T, e *env, origin, host string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, res, err := websocket.Dial(ctx, "ws://"+e.http+"/ws", &websocket.DialOptions{HTTPHeader: h, Host: host})
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err == nil {
		_ = ws.CloseNow()
	}
	if res == nil {
		t.Fatalf("upgrade: %v", err)
	}

	return res.StatusCode
}

// TestConnectionLimits fills http.max_connections with unauthenticated
// WebSockets and checks that one more upgrade gets 503, then that a user
// at auth.max_connections_per_user gets too_many_connections and is
// closed, while another user still logs in.
func TestConnectionLimits(t *testing.T) {
	e := newEnv(t, testConfig{edit: func(c *config.Config) {
		c.HTTP.MaxConnections = 3
		c.Auth.MaxConnectionsPerUser = 1
	}})
	first := login(t, e, "alice")
	second := newTab(t, e)
	second.Send(t, signaling.Auth{Version: signaling.Version, User: "alice", Password: testPassword})
	if r := expect[signaling.ErrorReply](t, second); r.Code != signaling.CodeTooManyConnections {
		t.Fatalf("second connection of alice: %+v, want too_many_connections", r)
	}
	if st, _ := second.WaitClosed(t); st != websocket.StatusPolicyViolation {
		t.Fatalf("second connection of alice closed with %v, want 1008", st)
	}
	// alice's second connection is gone: two slots are taken, bob gets the
	// third and the next upgrade is refused.
	login(t, e, "bob")
	newTab(t, e) // the third, not authenticated
	if got := upgradeStatus(t, e, "", ""); got != http.StatusServiceUnavailable {
		t.Fatalf("upgrade beyond http.max_connections: %d, want 503", got)
	}
	for limit, want := range map[string]float64{connLimitGateway: 1, connLimitUser: 1} {
		if got := testutil.ToFloat64(e.gw.metrics.WebSocketsRefused.WithLabelValues(limit)); got != want {
			t.Errorf("refused for the %s limit: %v, want %v", limit, got, want)
		}
	}
	// alice's first connection still works.
	first.Send(t, signaling.Ping{Ref: "p1"})
	expect[signaling.Pong](t, first)
}
